/* error.c - status strings (from the X-macro in clip.h) and error filling. */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

const char *
cle_status_string (int code)
{
  switch (code) {
#define CLE_STATUS_CASE(name, value, text) case value: return text;
    CLE_STATUS_MAP (CLE_STATUS_CASE)
#undef CLE_STATUS_CASE
  }
  return "unknown status";
}

int
cle_error_set (ClipError *err, int code, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->message, sizeof err->message, fmt, ap);
    va_end (ap);
    err->code = code;
  }
  return code;
}

void
cle_error_clear (ClipError *err)
{
  if (err) {
    err->code = CLE_OK;
    err->message[0] = '\0';
  }
}
