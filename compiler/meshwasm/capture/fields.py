"""Reading a capture's JSON with errors that name the entry and the field."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from meshwasm.capture.model import CaptureError


def load_json(path: Path, what: str) -> Any:
    """The JSON document at ``path``; a truncated or broken file names where it stops."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CaptureError(f"{path}: cannot read the {what}: {error.strerror or error}") \
            from None
    except UnicodeDecodeError as error:
        raise CaptureError(f"{path}: the {what} is not UTF-8 text (byte {error.start})") \
            from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        hint = " (the file is truncated)" if error.pos >= len(text.rstrip()) else ""
        raise CaptureError(f"{path}: the {what} is not valid JSON at line {error.lineno}, "
                           f"column {error.colno}: {error.msg}{hint}") from None


def field(container: Any, key: str, kind: type | tuple[type, ...], where: str,
          required: bool = True) -> Any:
    """``container[key]`` checked to be ``kind``; ``where`` names the container."""
    if not isinstance(container, dict):
        raise CaptureError(f"{where}: expected an object, got {type(container).__name__}")
    if key not in container or container[key] is None:
        if required:
            raise CaptureError(f"{where}.{key}: missing")
        return None
    value = container[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CaptureError(f"{where}.{key}: expected {names}, got {json.dumps(value)[:60]}")
    return value


def text_body(data: bytes, where: str) -> str | None:
    """A body as traffic files hold it (text); None when it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_base64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CaptureError(f"{where}: not valid base64") from None


def epoch_ms(text: str | None, where: str) -> float | None:
    """An ISO 8601 time as milliseconds since the epoch (None stays None)."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        raise CaptureError(f"{where}: not an ISO 8601 time: {text[:40]!r}") from None
