/* WASI inside the module.
 *
 * Envoy's proxy-wasm host stubs most WASI calls, has wrong signatures for some and fails the
 * VM on others (fd_seek, fd_filestat_get), so the module defines the WASI functions that
 * wasi-libc and CPython call, instead of importing them.  wasi-libc calls
 * __imported_wasi_snapshot_preview1_<name>; defining those symbols here makes wasm-ld bind
 * libc to this file rather than emit imports.
 *
 * There is no filesystem: paths do not exist, stdin is empty.  stdout/stderr become proxy
 * log lines (info/error).  Time and randomness are deterministic while the snapshot is
 * being taken (so builds are byte-identical) and real once the VM runs in a proxy:
 * time from proxy_get_current_time_nanoseconds (the harness's virtual clock), randomness
 * from the host's random_get, which Envoy implements soundly.
 */
#include <stdint.h>
#include <string.h>

#include "proxy_abi.h"

#define WASI(name) __imported_wasi_snapshot_preview1_##name

enum {
  WASI_ESUCCESS = 0, WASI_EBADF = 8, WASI_EINVAL = 28, WASI_ENOENT = 44, WASI_ENOSYS = 52,
  WASI_ENOTSUP = 58, WASI_ESPIPE = 70, WASI_ENOTCAPABLE = 76,
};
enum { WASI_FILETYPE_CHARACTER_DEVICE = 2 };

__attribute__((import_module("wasi_snapshot_preview1"), import_name("random_get")))
int32_t meshwasm_host_random_get(int32_t buf, int32_t len);

/* Set by the first proxy_on_context_create: from then on we run inside a proxy. */
int meshwasm_runtime_started = 0;

/* ---- stdout / stderr as log lines ---------------------------------------------------- */

#define LINE_MAX_BYTES 4096

typedef struct {
  char data[LINE_MAX_BYTES];
  size_t size;
} line_buffer_t;

static line_buffer_t stdout_line, stderr_line;

static void flush_line(line_buffer_t *line, uint32_t level) {
  if (line->size == 0) return;
  proxy_log(level, line->data, line->size);
  line->size = 0;
}

void meshwasm_flush_stdio(void) {
  flush_line(&stdout_line, PROXY_LOG_INFO);
  flush_line(&stderr_line, PROXY_LOG_ERROR);
}

static void write_text(int32_t fd, const char *data, size_t size) {
  line_buffer_t *line = fd == 1 ? &stdout_line : &stderr_line;
  uint32_t level = fd == 1 ? PROXY_LOG_INFO : PROXY_LOG_ERROR;
  for (size_t i = 0; i < size; i++) {
    if (data[i] == '\n') {
      flush_line(line, level);
    } else {
      if (line->size == LINE_MAX_BYTES) flush_line(line, level);
      line->data[line->size++] = data[i];
    }
  }
}

typedef struct {
  uint32_t buf;
  uint32_t len;
} wasi_iovec_t;

int32_t WASI(fd_write)(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nwritten) {
  if (fd != 1 && fd != 2) return WASI_EBADF;
  const wasi_iovec_t *vec = (const wasi_iovec_t *)(uintptr_t)iovs;
  uint32_t total = 0;
  for (int32_t i = 0; i < iovs_len; i++) {
    write_text(fd, (const char *)(uintptr_t)vec[i].buf, vec[i].len);
    total += vec[i].len;
  }
  *(uint32_t *)(uintptr_t)nwritten = total;
  return WASI_ESUCCESS;
}

int32_t WASI(fd_read)(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread) {
  if (fd != 0) return WASI_EBADF;
  *(uint32_t *)(uintptr_t)nread = 0; /* stdin is always at end of file */
  return WASI_ESUCCESS;
}

static int is_stdio(int32_t fd) { return fd >= 0 && fd <= 2; }

int32_t WASI(fd_fdstat_get)(int32_t fd, int32_t stat) {
  if (!is_stdio(fd)) return WASI_EBADF;
  uint8_t *out = (uint8_t *)(uintptr_t)stat;
  memset(out, 0, 24);
  out[0] = WASI_FILETYPE_CHARACTER_DEVICE;
  uint64_t rights = fd == 0 ? (1u << 1) /* fd_read */ : (1u << 6) /* fd_write */;
  memcpy(out + 8, &rights, 8);
  return WASI_ESUCCESS;
}

int32_t WASI(fd_filestat_get)(int32_t fd, int32_t stat) {
  if (!is_stdio(fd)) return WASI_EBADF;
  uint8_t *out = (uint8_t *)(uintptr_t)stat;
  memset(out, 0, 64);
  out[16] = WASI_FILETYPE_CHARACTER_DEVICE;
  return WASI_ESUCCESS;
}

int32_t WASI(fd_close)(int32_t fd) { return is_stdio(fd) ? WASI_ESUCCESS : WASI_EBADF; }
/* zig's libc implements close() in Zig; its object names the import "fd_close|<module>". */
int32_t zig_fd_close(int32_t fd) __asm__("fd_close|wasi_snapshot_preview1");
int32_t zig_fd_close(int32_t fd) { return WASI(fd_close)(fd); }
int32_t WASI(fd_seek)(int32_t fd, int64_t offset, int32_t whence, int32_t result) {
  return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}
int32_t WASI(fd_tell)(int32_t fd, int32_t result) {
  return is_stdio(fd) ? WASI_ESPIPE : WASI_EBADF;
}
int32_t WASI(fd_sync)(int32_t fd) { return is_stdio(fd) ? WASI_ESUCCESS : WASI_EBADF; }
int32_t WASI(fd_datasync)(int32_t fd) { return is_stdio(fd) ? WASI_ESUCCESS : WASI_EBADF; }
int32_t WASI(fd_advise)(int32_t fd, int64_t offset, int64_t len, int32_t advice) {
  return WASI_EBADF;
}
int32_t WASI(fd_allocate)(int32_t fd, int64_t offset, int64_t len) { return WASI_EBADF; }
int32_t WASI(fd_fdstat_set_flags)(int32_t fd, int32_t flags) { return WASI_ENOTSUP; }
int32_t WASI(fd_filestat_set_size)(int32_t fd, int64_t size) { return WASI_EBADF; }
int32_t WASI(fd_filestat_set_times)(int32_t fd, int64_t atim, int64_t mtim, int32_t flags) {
  return WASI_EBADF;
}
int32_t WASI(fd_pread)(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                       int32_t nread) {
  return WASI_EBADF;
}
int32_t WASI(fd_pwrite)(int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                        int32_t nwritten) {
  return WASI_EBADF;
}
int32_t WASI(fd_readdir)(int32_t fd, int32_t buf, int32_t len, int64_t cookie, int32_t used) {
  return WASI_EBADF;
}
/* No preopened directories: wasi-libc stops scanning at the first EBADF. */
int32_t WASI(fd_prestat_get)(int32_t fd, int32_t prestat) { return WASI_EBADF; }
int32_t WASI(fd_prestat_dir_name)(int32_t fd, int32_t path, int32_t len) { return WASI_EBADF; }

/* ---- paths: there is no filesystem ---------------------------------------------------- */

int32_t WASI(path_open)(int32_t fd, int32_t dirflags, int32_t path, int32_t path_len,
                        int32_t oflags, int64_t rights_base, int64_t rights_inheriting,
                        int32_t fdflags, int32_t opened) {
  return WASI_ENOENT;
}
int32_t WASI(path_filestat_get)(int32_t fd, int32_t flags, int32_t path, int32_t path_len,
                                int32_t stat) {
  return WASI_ENOENT;
}
int32_t WASI(path_filestat_set_times)(int32_t fd, int32_t flags, int32_t path,
                                      int32_t path_len, int64_t atim, int64_t mtim,
                                      int32_t fst_flags) {
  return WASI_ENOENT;
}
int32_t WASI(path_readlink)(int32_t fd, int32_t path, int32_t path_len, int32_t buf,
                            int32_t buf_len, int32_t used) {
  return WASI_ENOENT;
}
int32_t WASI(path_create_directory)(int32_t fd, int32_t path, int32_t path_len) {
  return WASI_ENOTCAPABLE;
}
int32_t WASI(path_remove_directory)(int32_t fd, int32_t path, int32_t path_len) {
  return WASI_ENOENT;
}
int32_t WASI(path_unlink_file)(int32_t fd, int32_t path, int32_t path_len) {
  return WASI_ENOENT;
}
int32_t WASI(path_link)(int32_t old_fd, int32_t old_flags, int32_t old_path, int32_t old_len,
                        int32_t new_fd, int32_t new_path, int32_t new_len) {
  return WASI_ENOTCAPABLE;
}
int32_t WASI(path_symlink)(int32_t old_path, int32_t old_len, int32_t fd, int32_t new_path,
                           int32_t new_len) {
  return WASI_ENOTCAPABLE;
}
int32_t WASI(path_rename)(int32_t fd, int32_t old_path, int32_t old_len, int32_t new_fd,
                          int32_t new_path, int32_t new_len) {
  return WASI_ENOTCAPABLE;
}

/* ---- environment, clocks, randomness, process ------------------------------------------ */

int32_t WASI(environ_sizes_get)(int32_t count, int32_t size) {
  *(uint32_t *)(uintptr_t)count = 0;
  *(uint32_t *)(uintptr_t)size = 0;
  return WASI_ESUCCESS;
}
int32_t WASI(environ_get)(int32_t environ, int32_t buf) { return WASI_ESUCCESS; }

int32_t WASI(clock_res_get)(int32_t id, int32_t resolution) {
  uint64_t one_microsecond = 1000;
  memcpy((void *)(uintptr_t)resolution, &one_microsecond, 8);
  return WASI_ESUCCESS;
}

int32_t WASI(clock_time_get)(int32_t id, int64_t precision, int32_t time) {
  uint64_t now = 0;
  if (meshwasm_runtime_started) proxy_get_current_time_nanoseconds(&now);
  memcpy((void *)(uintptr_t)time, &now, 8);
  return WASI_ESUCCESS;
}

int32_t WASI(random_get)(int32_t buf, int32_t len) {
  if (meshwasm_runtime_started) return meshwasm_host_random_get(buf, len);
  /* Build time: a fixed sequence, so the snapshot does not depend on the build machine. */
  static uint32_t state = 0x9e3779b9u;
  uint8_t *out = (uint8_t *)(uintptr_t)buf;
  for (int32_t i = 0; i < len; i++) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    out[i] = (uint8_t)state;
  }
  return WASI_ESUCCESS;
}

int32_t WASI(poll_oneoff)(int32_t in, int32_t out, int32_t nsubscriptions, int32_t nevents) {
  return WASI_ENOTSUP;
}
int32_t WASI(sched_yield)(void) { return WASI_ESUCCESS; }

_Noreturn void WASI(proc_exit)(int32_t code) {
  static const char message[] = "meshwasm: the filter called exit(); trapping";
  meshwasm_flush_stdio();
  proxy_log(PROXY_LOG_CRITICAL, message, sizeof(message) - 1);
  __builtin_trap();
}

/* CPython's thread code refers to pthread_exit, which zig's wasi-libc does not define.
 * A proxy-wasm VM has one thread: nothing can call it. */
_Noreturn void pthread_exit(void *value) {
  (void)value;
  __builtin_trap();
}

/* ---- free(): zeroed while the snapshot is taken ---------------------------------------- */

/* The linker routes every free() to this (--wrap=free, link.py).  At build time, freed
 * blocks are zeroed: the snapshot stores only non-zero bytes, so garbage left by start-up
 * would otherwise be shipped in every module and copied into every VM.  In a proxy it is
 * plain free(). */
size_t malloc_usable_size(void *pointer);
void __real_free(void *pointer);
void __wrap_free(void *pointer) {
  if (pointer != NULL && !meshwasm_runtime_started)
    memset(pointer, 0, malloc_usable_size(pointer));
  __real_free(pointer);
}
