"""Small valid WebAssembly modules for the distribution tests (pull checks what it writes)."""

from __future__ import annotations

import gzip
import tarfile

WASM_HEADER = b"\0asm\x01\0\0\0"


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def module_with_payload(payload: bytes, name: bytes = b"payload") -> bytes:
    """A valid module whose only content is one custom section holding ``payload``."""
    body = _leb128(len(name)) + name + payload
    return WASM_HEADER + b"\0" + _leb128(len(body)) + body


def gzip_bomb_layer(claimed: int, *, member: str = "plugin.wasm") -> bytes:
    """A compat layer (tar.gz) whose ``member`` says it holds ``claimed`` zero bytes, and does:
    gzip members concatenated (one stream to a reader), one compressed MiB of zeros repeated,
    so a GiB takes about a megabyte and no time to make."""
    header = tarfile.TarInfo(member)
    header.size = claimed
    mib = 1 << 20
    parts = [gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT), mtime=0)]
    parts += [gzip.compress(bytes(mib), mtime=0)] * (claimed // mib)
    parts.append(gzip.compress(bytes(claimed % mib), mtime=0))
    return b"".join(parts)
