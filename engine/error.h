/* error.h - filling a caller's ClipError: one helper used by every engine file. */
#ifndef CLE_ERROR_H
#define CLE_ERROR_H

#include "clip.h"

/* Formats the message into err (if not NULL) and returns code, so that a
 * failure reads: return cle_error_set (err, CLE_ERROR_IO, "'%s': ...", path); */
int cle_error_set (ClipError *err, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Clears err to CLE_OK with an empty message. */
void cle_error_clear (ClipError *err);

#endif
