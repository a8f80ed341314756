/* memcmp, bcmp and memchr, eight bytes at a time.
 *
 * zig's libc and compiler_rt handle one byte per loop iteration.  CPython compares strings with
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

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether a byte of `word` is zero (exact as a whole; which byte is found byte by byte). */
static inline int has_zero_byte(uint64_t word) { return ((word - ONES) & ~word & HIGHS) != 0; }

/* CPython finds one byte with memchr: `b"x" in data`, str.split/find/replace of one
 * character, bytes.replace, the JSON and base64 scanners' searches. */
__attribute__((no_builtin("memchr"))) void *memchr(const void *source, int wanted,
                                                   size_t size) {
  const unsigned char *p = source;
  const unsigned char byte = (unsigned char)wanted;
  const uint64_t pattern = ONES * byte;
  while (size >= 8) {
    uint64_t word;
    __builtin_memcpy(&word, p, 8);
    if (has_zero_byte(word ^ pattern)) break;
    p += 8;
    size -= 8;
  }
  for (; size > 0; size--, p++) {
    if (*p == byte) return (void *)p;
  }
  return NULL;
}
