/* The filter's frozen modules, handed over by the snapshotter at build time.
 *
 * The linked module does not contain the filter: its marshalled modules, its name and the
 * CPython frozen modules to import first arrive as one blob that the snapshotter writes into
 * memory before calling meshwasm_initialize.  So the linked module (and wasmtime's compiled
 * copy of it) depends only on CPython, the glue and the builtin modules, and is reused by
 * every build of every filter with the same builtins (builder/runtime_link.py).
 *
 * Blob layout (little-endian u32 numbers; every string carries its NUL):
 *   "MWF1"
 *   count, then per module: name size, name, is_package, code size, code
 *   filter module name size, name
 *   preload count, then per name: size, name
 * (builder/freeze.py:encode_blob writes it.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frozen_blob.h"

const struct _frozen *meshwasm_frozen_modules = NULL;
const char *meshwasm_filter_module = NULL;
const char *const *meshwasm_preload_modules = NULL;

typedef struct {
  const unsigned char *at, *end;
} cursor_t;

static int read_u32(cursor_t *cursor, uint32_t *value) {
  if (cursor->end - cursor->at < 4) return -1;
  memcpy(value, cursor->at, 4);
  cursor->at += 4;
  return 0;
}

/* `size` bytes at the cursor (a string must end with its NUL). */
static const unsigned char *read_bytes(cursor_t *cursor, uint32_t size, int is_string) {
  if ((uint32_t)(cursor->end - cursor->at) < size) return NULL;
  if (is_string && (size == 0 || cursor->at[size - 1] != '\0')) return NULL;
  const unsigned char *start = cursor->at;
  cursor->at += size;
  return start;
}

static const char *read_string(cursor_t *cursor) {
  uint32_t size;
  if (read_u32(cursor, &size) < 0) return NULL;
  return (const char *)read_bytes(cursor, size, 1);
}

int meshwasm_read_frozen_blob(const unsigned char *blob, uint32_t size) {
  cursor_t cursor = {blob, blob + size};
  uint32_t count;
  if (size < 4 || memcmp(blob, "MWF1", 4) != 0) return -1;
  cursor.at += 4;
  if (read_u32(&cursor, &count) < 0 || count > size / 12) return -1;
  /* calloc: the entry after the last is the all-NULL end marker CPython looks for. */
  struct _frozen *modules = calloc((size_t)count + 1, sizeof *modules);
  if (modules == NULL) return -1;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t is_package, code_size;
    modules[i].name = read_string(&cursor);
    if (modules[i].name == NULL || read_u32(&cursor, &is_package) < 0 ||
        read_u32(&cursor, &code_size) < 0 || code_size > INT32_MAX)
      return -1;
    modules[i].code = read_bytes(&cursor, code_size, 0);
    if (modules[i].code == NULL) return -1;
    modules[i].size = (int)code_size;
    modules[i].is_package = is_package != 0;
  }
  const char *filter = read_string(&cursor);
  uint32_t preload_count;
  if (filter == NULL || read_u32(&cursor, &preload_count) < 0 || preload_count > size / 4)
    return -1;
  const char **preload = calloc((size_t)preload_count + 1, sizeof *preload);
  if (preload == NULL) return -1;
  for (uint32_t i = 0; i < preload_count; i++) {
    if ((preload[i] = read_string(&cursor)) == NULL) return -1;
  }
  if (cursor.at != cursor.end) return -1;
  meshwasm_frozen_modules = modules;
  meshwasm_filter_module = filter;
  meshwasm_preload_modules = preload;
  return 0;
}
