"""Parse Envoy's application log (written with ``process.LOG_FORMAT``) into records, and
pick out the lines a wasm filter logged through ``proxy_log``.

Envoy logs a filter's message on its ``wasm`` logger as
``wasm log <plugin name> <root id> <vm id>: <message>`` (empty ids left out), at the level the
filter asked for.  A message that contains newlines spans several file lines; lines that do not
start with a log header continue the previous record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshwasm.replay.model import LogLine

# [2026-01-01 12:00:00.000][1234][info][wasm] message
_HEADER = re.compile(
    r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[\d+\]\[(?P<level>[a-z]+)\]\[(?P<logger>[\w.]+)\] ")
_FILTER_MESSAGE = re.compile(r"^wasm log(?: (?P<plugin>[^ :]+))?[^:]*: ", re.DOTALL)
#: spdlog level names -> the level names of the replay model (proxy-wasm's)
_LEVELS = {"warning": "warn", "err": "error"}


@dataclass(frozen=True)
class EnvoyLogRecord:
    """One log call of Envoy: level (spdlog name), logger (component) and message."""

    level: str
    logger: str
    message: str


def parse_records(text: str) -> list[EnvoyLogRecord]:
    """Split log text into records; text before the first header is ignored."""
    records: list[EnvoyLogRecord] = []
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            records.append(EnvoyLogRecord(match["level"], match["logger"], line[match.end():]))
        elif records:
            last = records[-1]
            records[-1] = EnvoyLogRecord(last.level, last.logger, f"{last.message}\n{line}")
    return records


def filter_log_lines(text: str) -> list[LogLine]:
    """The messages wasm filters logged in ``text``, with their levels, in order."""
    lines = []
    for record in parse_records(text):
        if record.logger != "wasm":
            continue
        match = _FILTER_MESSAGE.match(record.message)
        if match:
            level = _LEVELS.get(record.level, record.level)
            lines.append(LogLine(level=level, message=record.message[match.end():],
                                 plugin=match["plugin"] or ""))
    return lines
