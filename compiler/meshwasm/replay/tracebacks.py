"""Quote the filter's source lines in tracebacks a compiled module logged.

Inside a module there are no source files, so its tracebacks name each frame's file and line
only (``File "common.py", line 7, in explode``, the file relative to the filter's folder).
The report reads those lines from the filter's files on this machine, looked up in a few
folders (the traffic file's, the module's, the current one); a frame already followed by
its source line (source mode) is left as it is.
"""

from __future__ import annotations

import linecache
import re
from collections.abc import Sequence
from pathlib import Path

_FRAME = re.compile(r'^(?P<indent>\s*)File "(?P<file>[^"]+)", line (?P<line>\d+), in ')


def _source_line(name: str, number: int, folders: Sequence[Path]) -> str:
    candidates = [Path(name)] if Path(name).is_absolute() else [d / name for d in folders]
    for candidate in candidates:
        if candidate.is_file():
            return linecache.getline(str(candidate), number).strip()
    return ""


def quote_sources(text: str, folders: Sequence[Path]) -> str:
    """``text`` with each unquoted traceback frame followed by its source line, when a file
    of that name is found in ``folders``."""
    if "Traceback (most recent call last):" not in text:
        return text
    lines = text.splitlines()
    quoted = []
    for index, line in enumerate(lines):
        quoted.append(line)
        frame = _FRAME.match(line)
        if frame is None:
            continue
        body_indent = frame["indent"] + "  "  # as Python indents a quoted line
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.startswith(body_indent) and not _FRAME.match(following):
            continue  # already quoted
        source = _source_line(frame["file"], int(frame["line"]), folders)
        if source:
            quoted.append(body_indent + source)
    return "\n".join(quoted)
