/* fuzz-util.h - what the fuzz targets share: the libFuzzer entry point and a
 * per-process scratch file for parsers that read paths. */
#ifndef CLE_FUZZ_UTIL_H
#define CLE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Writes data to a file named name in a per-process temporary directory
 * and returns its path (owned by the helper, valid until the next call
 * with the same name). */
const char *fuzz_write_file (const char *name, const uint8_t *data,
    size_t size);

#endif
