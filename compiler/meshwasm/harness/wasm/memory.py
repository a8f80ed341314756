"""Copying bytes in and out of the module's linear memory, and allocating in it."""

from __future__ import annotations

import ctypes
import struct

import wasmtime
from wasmtime import _bindings as _b

from meshwasm.harness.wasm.ffi import FastFunc

_data = _b._wasmtime_memory_data
_data_size = _b._wasmtime_memory_data_size
_pack_u32 = struct.Struct("<I").pack
_pack_u64 = struct.Struct("<Q").pack


class GuestMemory:
    """Bounds-checked access to memory 0; every method answers ``False``/``None`` when out
    of bounds, which the host calls turn into InvalidMemoryAccess as Envoy does."""

    def __init__(self, store: wasmtime.Store) -> None:
        self._ctx = store._context()
        self._ref: object = None
        self._memory: wasmtime.Memory | None = None
        self._allocate: FastFunc | None = None
        self._base = 0
        self._size = -1

    def attach(self, memory: wasmtime.Memory, allocate: FastFunc | None) -> None:
        """Bind the instance's memory and allocator (the imports exist before them)."""
        self._ref = ctypes.byref(memory._memory)
        self._memory = memory
        self._allocate = allocate
        self._size = -1

    def _sync(self) -> int:
        # The base address can only move when memory grows, and growing changes the size.
        size = _data_size(self._ctx, self._ref)
        if size != self._size:
            self._size = size
            self._base = ctypes.cast(_data(self._ctx, self._ref), ctypes.c_void_p).value or 0
        return size

    def read(self, ptr: int, size: int) -> bytes | None:
        if size == 0:
            return b""
        if ptr + size > self._sync():
            return None
        return ctypes.string_at(self._base + ptr, size)

    def write(self, ptr: int, data: bytes) -> bool:
        if ptr + len(data) > self._sync():
            return False
        ctypes.memmove(self._base + ptr, data, len(data))
        return True

    def set_u32(self, ptr: int, value: int) -> bool:
        return self.write(ptr, _pack_u32(value & 0xFFFFFFFF))

    def set_u64(self, ptr: int, value: int) -> bool:
        return self.write(ptr, _pack_u64(value & 0xFFFFFFFFFFFFFFFF))

    def allocate(self, data: bytes) -> int | None:
        """Copy ``data`` into a buffer the module allocates (its ``malloc`` or
        ``proxy_on_memory_allocate``); ``None`` when it cannot."""
        if self._allocate is None:
            return None
        ptr = (self._allocate(len(data)) or 0) & 0xFFFFFFFF
        if ptr == 0 or not self.write(ptr, data):
            return None
        return ptr

    def copy_out(self, data: bytes, ptr_ptr: int, size_ptr: int) -> bool:
        """Envoy's ``copyToPointerSize``: allocate, copy, store pointer and size (an empty
        value is stored as pointer 0, size 0, without allocating)."""
        ptr = 0
        if data:
            allocated = self.allocate(data)
            if allocated is None:
                return False
            ptr = allocated
        return self.set_u32(ptr_ptr, ptr) and self.set_u32(size_ptr, len(data))
