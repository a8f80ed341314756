"""CLI commands, one module each.  A module exposes a click command named ``command``."""

from __future__ import annotations

import importlib

import click

# Modules under meshwasm.commands that define `command`; missing ones are skipped so a
# partially installed tree still starts.
COMMAND_MODULES = ("build", "replay", "run", "envoy_config", "inspect", "push", "pull",
                   "wasmplugin", "dev", "import_traffic", "record")


def register_all(group: click.Group) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"meshwasm.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"meshwasm.commands.{name}":
                continue
            raise
        group.add_command(module.command)
