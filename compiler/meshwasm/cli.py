"""The ``meshwasm`` command line: a click group; each command lives in ``meshwasm.commands``."""

from __future__ import annotations

import click

from meshwasm import __version__
from meshwasm.commands import register_all


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="meshwasm")
def main() -> None:
    """Build, test and ship proxy-wasm filters written in Python."""


register_all(main)
