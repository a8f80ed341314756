/* Included before every CPython source file meshwasm compiles for wasm32-wasi (-include). */
#ifndef MESHWASM_WASI_COMPAT_H
#define MESHWASM_WASI_COMPAT_H

/* zig's wasi-libc declares no pthread_exit; CPython's thread code refers to it.  There are
 * no threads in a proxy-wasm VM: the glue defines it as a trap. */
void pthread_exit(void *) __attribute__((noreturn));

/* sys.version's build date: fixed, so two builds of the same inputs are byte-identical. */
#define DATE "Jan  1 2000"
#define TIME "00:00:00"

#endif
