"""The ``meshwasm`` command line: a click group; each command lives in ``meshwasm.commands``.

Exit codes every command shares: 0 done, 1 a check failed (``replay``: a request not as
expected), 2 bad input (a file, an option), 3 meshwasm itself failed: one line on stderr
instead of a Python traceback (``MESHWASM_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
from typing import Any

import click

from meshwasm import __version__
from meshwasm.commands import register_all

EXIT_CRASH = 3
DEBUG_ENV = "MESHWASM_DEBUG"


class _Commands(click.Group):
    """A group whose commands never end in a traceback: an unexpected exception becomes one
    line and ``EXIT_CRASH``, distinct from a failed check (1) and bad input (2)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as error:
            if os.environ.get(DEBUG_ENV):
                raise
            command = ctx.invoked_subcommand or "meshwasm"
            click.echo(f"meshwasm {command}: internal error: {type(error).__name__}: {error} "
                       f"(a bug in meshwasm; {DEBUG_ENV}=1 shows the traceback)", err=True)
            ctx.exit(EXIT_CRASH)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="meshwasm")
def main() -> None:
    """Build, test and ship proxy-wasm filters written in Python."""


register_all(main)
