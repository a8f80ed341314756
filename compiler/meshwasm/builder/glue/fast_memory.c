/* memcmp and bcmp, eight bytes at a time.
 *
 * zig's compiler_rt compares one byte per loop iteration.  CPython compares strings with
 * memcmp in every dict look-up that meets an equal hash with a different object (a header
 * value or a token used as a cache key: a new str each request), so on a 200-byte key the
 * byte loop cost thousands of Wasm instructions per request.  Wasm loads need no alignment,
 * so eight bytes are read at once; the first differing word is finished byte by byte, which
 * keeps memcmp's sign (bytes compared as unsigned char). */
#include <stddef.h>
#include <stdint.h>

/* no_builtin: the byte loop below must not be turned back into a call to memcmp. */
__attribute__((no_builtin("memcmp", "bcmp"))) int memcmp(const void *left, const void *right,
                                                        size_t size) {
  const unsigned char *a = left, *b = right;
  while (size >= 8) {
    uint64_t x, y;
    __builtin_memcpy(&x, a, 8);
    __builtin_memcpy(&y, b, 8);
    if (x != y) break;
    a += 8;
    b += 8;
    size -= 8;
  }
  for (; size > 0; size--, a++, b++) {
    if (*a != *b) return (int)*a - (int)*b;
  }
  return 0;
}

/* Only equality matters to bcmp's callers (clang turns memcmp(...) == 0 into bcmp). */
__attribute__((no_builtin("memcmp", "bcmp"))) int bcmp(const void *left, const void *right,
                                                      size_t size) {
  return memcmp(left, right, size);
}
