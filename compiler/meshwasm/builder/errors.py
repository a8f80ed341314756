"""Errors a build reports to the user, each naming the file and line it is about."""

from __future__ import annotations

from pathlib import Path


class BuildError(Exception):
    """A build failed for a reason the user can act on."""


class FilterSourceError(BuildError):
    """Something wrong in the filter's own source: reported as ``file:line:col: message``."""

    def __init__(self, path: Path | str, line: int | None, message: str,
                 column: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        self.message = message
        where = str(path)
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")
