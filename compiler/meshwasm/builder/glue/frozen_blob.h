/* The filter's frozen modules, read from the blob the snapshotter hands over (frozen_blob.c). */
#ifndef MESHWASM_FROZEN_BLOB_H
#define MESHWASM_FROZEN_BLOB_H

#include <Python.h>
#include <stdint.h>

extern const struct _frozen *meshwasm_frozen_modules; /* ends with an all-NULL entry */
extern const char *meshwasm_filter_module;
extern const char *const *meshwasm_preload_modules; /* NULL-terminated */

/* Parse `blob` (kept: the table points into it); 0, or -1 when it is malformed. */
int meshwasm_read_frozen_blob(const unsigned char *blob, uint32_t size);

#endif
