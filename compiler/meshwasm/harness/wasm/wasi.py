"""The WASI preview1 functions Envoy's host gives a module (proxy-wasm-cpp-host
``src/exports.cc``), under both ``wasi_snapshot_preview1`` and ``wasi_unstable``.

There is no file system: stdout/stderr become log lines (info/error, one trailing newline
dropped), no environment variables or arguments, real and monotonic clocks, random bytes;
everything else answers the errno Envoy answers.  Signatures are Envoy's, including two that
differ from the WASI spec (``path_link`` and ``path_symlink`` take one parameter fewer there),
so a module importing them fails here as it fails in Envoy.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from meshwasm.harness import abi
from meshwasm.harness.host import Host
from meshwasm.harness.wasm.memory import GuestMemory

MODULES = ("wasi_snapshot_preview1", "wasi_unstable")

ESUCCESS, EBADF, EFAULT, EINVAL, ENOENT, ENOSYS, ENOTDIR, ENOTSUP = 0, 8, 21, 28, 44, 52, 20, 58
RANDOM_GET_MAX = 64 * 1024

SIGNATURES: dict[str, str] = {
    "fd_write": "iiii>i", "fd_read": "iiii>i", "fd_seek": "iIii>i", "fd_close": "i>i",
    "fd_fdstat_get": "ii>i", "fd_fdstat_set_flags": "ii>i", "fd_fdstat_set_rights": "iII>i",
    "environ_get": "ii>i", "environ_sizes_get": "ii>i", "args_get": "ii>i",
    "args_sizes_get": "ii>i", "clock_time_get": "iIi>i", "clock_res_get": "ii>i",
    "fd_advise": "iIIi>i", "fd_allocate": "iII>i", "fd_datasync": "i>i",
    "fd_filestat_set_size": "iI>i", "fd_filestat_set_times": "iIIi>i", "fd_pread": "iiiIi>i",
    "fd_pwrite": "iiiIi>i", "fd_readdir": "iiiIi>i", "fd_renumber": "ii>i", "fd_sync": "i>i",
    "fd_tell": "ii>i", "path_create_directory": "iii>i",
    "path_filestat_set_times": "iiiiIIi>i", "path_link": "iiiiii>i",
    "path_readlink": "iiiiii>i", "path_remove_directory": "iii>i", "path_rename": "iiiiii>i",
    "path_symlink": "iiii>i", "path_unlink_file": "iii>i", "sock_accept": "iii>i",
    "sock_recv": "iiiiii>i", "sock_send": "iiiii>i", "sock_shutdown": "ii>i",
    "random_get": "ii>i", "sched_yield": ">i", "poll_oneoff": "iiii>i", "proc_exit": "i>",
    "path_open": "iiiiiIIii>i", "fd_prestat_get": "ii>i", "fd_prestat_dir_name": "iii>i",
    "path_filestat_get": "iiiii>i", "fd_filestat_get": "ii>i",
}


def _answer(errno: int) -> Callable[..., int]:
    return lambda *_args: errno


def wasi_functions(host: Host, mem: GuestMemory) -> dict[str, Callable[..., int | None]]:
    """Implementations of every name in ``SIGNATURES``."""

    def std_only(errno_ok: int = ESUCCESS) -> Callable[..., int]:
        return lambda fd, *_args: errno_ok if fd in (1, 2) else EBADF

    def gather(iovs: int, count: int) -> bytes | None:
        parts = []
        for i in range(count):
            entry = mem.read(iovs + 8 * i, 8)
            if entry is None:
                return None
            buf, length = int.from_bytes(entry[:4], "little"), int.from_bytes(entry[4:], "little")
            if length:
                data = mem.read(buf, length)
                if data is None:
                    return None
                parts.append(data)
        return b"".join(parts)

    def write_to_log(fd: int, iovs: int, count: int, out: int) -> int:
        if fd not in (1, 2):
            return EBADF
        data = gather(iovs, count)
        if data is None:
            return EFAULT
        if data:
            text = data[:-1] if data.endswith(b"\n") else data
            host.log(abi.LOG_INFO if fd == 1 else abi.LOG_ERROR, text)
        return ESUCCESS if mem.set_u32(out, len(data)) else EFAULT

    def fd_pwrite(fd: int, iovs: int, count: int, _offset: int, out: int) -> int:
        return write_to_log(fd, iovs, count, out)

    def trace_error(message: str, errno: int) -> Callable[..., int]:
        def call(*_args: int) -> int:
            host.log(abi.LOG_TRACE, message.encode())
            return errno
        return call

    def fd_fdstat_get(fd: int, out: int) -> int:
        if fd not in (1, 2):
            return EBADF
        # filetype/flags 0, rights_base FD_WRITE (64), rights_inheriting 0
        mem.write(out, (0).to_bytes(8, "little") + (64).to_bytes(8, "little") + bytes(8))
        return ESUCCESS

    def zero_counts(count_ptr: int, size_ptr: int) -> int:
        return ESUCCESS if mem.set_u32(count_ptr, 0) and mem.set_u32(size_ptr, 0) else EFAULT

    def clock_time_get(clock_id: int, _precision: int, out: int) -> int:
        if clock_id == 0:
            now = host.clock_ns()
        elif clock_id == 1:
            now = host.monotonic_ns()
        else:
            return ENOTSUP
        return ESUCCESS if mem.set_u64(out, now) else EFAULT

    def clock_res_get(clock_id: int, out: int) -> int:
        if clock_id not in (0, 1):
            return ENOTSUP
        return ESUCCESS if mem.set_u64(out, 1) else EFAULT

    def fd_tell(fd: int, out: int) -> int:
        if fd not in (1, 2):
            return EBADF
        return ESUCCESS if mem.set_u64(out, 0) else EFAULT

    def zero_word_then(errno: int, word_arg: int) -> Callable[..., int]:
        def call(*args: int) -> int:
            return errno if mem.set_u32(args[word_arg], 0) else EFAULT
        return call

    def sock_recv(_fd: int, _data: int, _len: int, _flags: int, out: int, flags_out: int) -> int:
        if not (mem.set_u32(out, 0) and mem.write(flags_out, bytes(2))):
            return EFAULT
        return ENOTSUP

    def sock_accept(_fd: int, _flags: int, out: int) -> int:
        return ENOTSUP if mem.set_u64(out, 0) else EFAULT

    def random_get(ptr: int, size: int) -> int:
        if size > RANDOM_GET_MAX:
            return EINVAL
        if size == 0:
            return ESUCCESS
        return ESUCCESS if mem.write(ptr, os.urandom(size)) else EFAULT

    def poll_oneoff(_in: int, _out: int, _count: int, nevents: int) -> int:
        return ESUCCESS if mem.set_u32(nevents, 0) else EFAULT

    def proc_exit(_code: int) -> None:
        # Envoy only notes it (at trace level) and returns; the module's code after the
        # call (``unreachable`` in wasi-libc) is what traps.
        host.log(abi.LOG_TRACE, b"wasi_unstable proc_exit")

    return {
        "fd_write": write_to_log,
        "fd_pwrite": fd_pwrite,
        "fd_read": _answer(ENOSYS),
        "fd_pread": _answer(ENOSYS),
        "fd_seek": trace_error("wasi_unstable fd_seek", ESUCCESS),
        "fd_close": trace_error("wasi_unstable fd_close", ESUCCESS),
        "fd_fdstat_get": fd_fdstat_get,
        "fd_fdstat_set_flags": _answer(ENOSYS),
        "fd_fdstat_set_rights": std_only(),
        "environ_get": _answer(ESUCCESS),  # Envoy passes no variables unless configured
        "environ_sizes_get": zero_counts,
        "args_get": _answer(ESUCCESS),
        "args_sizes_get": zero_counts,
        "clock_time_get": clock_time_get,
        "clock_res_get": clock_res_get,
        "fd_advise": _answer(ESUCCESS),
        "fd_allocate": std_only(),
        "fd_datasync": std_only(),
        "fd_filestat_set_size": std_only(),
        "fd_filestat_set_times": std_only(),
        "fd_readdir": zero_word_then(ENOTDIR, 4),
        "fd_renumber": lambda fd, to: ENOTSUP if fd in (1, 2) and to in (1, 2) else EBADF,
        "fd_sync": std_only(),
        "fd_tell": fd_tell,
        "path_create_directory": _answer(ENOTSUP),
        "path_filestat_set_times": _answer(ENOTSUP),
        "path_link": _answer(ENOTSUP),
        "path_readlink": zero_word_then(ENOTSUP, 5),
        "path_remove_directory": _answer(ENOTSUP),
        "path_rename": _answer(ENOTSUP),
        "path_symlink": _answer(ENOTSUP),
        "path_unlink_file": _answer(ENOTSUP),
        "sock_accept": sock_accept,
        "sock_recv": sock_recv,
        "sock_send": zero_word_then(ENOTSUP, 4),
        "sock_shutdown": _answer(ENOTSUP),
        "random_get": random_get,
        "sched_yield": _answer(ESUCCESS),
        "poll_oneoff": poll_oneoff,
        "proc_exit": proc_exit,
        "path_open": _answer(ENOENT),
        "fd_prestat_get": _answer(EBADF),
        "fd_prestat_dir_name": _answer(ENOSYS),
        "path_filestat_get": _answer(ENOTSUP),
        "fd_filestat_get": _answer(EBADF),
    }
