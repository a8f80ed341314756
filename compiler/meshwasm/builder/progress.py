"""How a build tells the user where it is: stages, and counts for the long ones.

The pipeline and the toolchain report through a ``Progress``; the default one is silent
(library use, tests), the command line passes one that draws with rich.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def step(self, text: str) -> None:
        """A new stage starts."""

    def advance(self, text: str, done: int, total: int) -> None:
        """Within the current stage, ``done`` of ``total`` units are finished."""

    def close(self) -> None:
        """The build is over (successfully or not)."""


class Silent:
    def step(self, text: str) -> None:
        pass

    def advance(self, text: str, done: int, total: int) -> None:
        pass

    def close(self) -> None:
        pass


class ConsoleProgress:
    """Stages as lines, counted work as a rich progress bar (on a terminal) or as a few
    lines (in a log), on standard error."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress
        from rich.progress import TextColumn, TimeElapsedColumn

        self._console = Console(stderr=True)
        self._bar = RichProgress(TextColumn("  {task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self._console, transient=True)
        self._task: int | None = None
        self._logged_tenth = -1

    def step(self, text: str) -> None:
        self._finish_bar()
        self._console.print(f"[bold]{text}[/bold]")

    def advance(self, text: str, done: int, total: int) -> None:
        if not self._console.is_terminal:
            tenth = done * 10 // max(total, 1)
            if tenth != self._logged_tenth:
                self._logged_tenth = tenth
                self._console.print(f"  {text}: {done}/{total}")
            return
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(text, total=total)
        self._bar.update(self._task, description=text, completed=done, total=total)

    def _finish_bar(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None
        self._logged_tenth = -1

    def close(self) -> None:
        self._finish_bar()
