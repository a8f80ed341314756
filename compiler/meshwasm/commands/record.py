"""``meshwasm record MODULE.wasm -o TRAFFIC.yaml``: run's Envoy with the tap filter around the
module; what passed through becomes a traffic file."""

from __future__ import annotations

import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import click

from meshwasm.commands.envoy_options import envoy_options, to_envoy_options
from meshwasm.commands.import_traffic import BadInput
from meshwasm.commands.run import interrupt_on_sigterm
from meshwasm.deploy.envoy.echo_upstream import run_echo_upstream
from meshwasm.deploy.envoy.config import LOOPBACK
from meshwasm.deploy.envoy.process import EnvoyError, EnvoyProcess, start_envoy


@click.command("record")
@click.argument("module", metavar="MODULE.wasm",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The traffic file to write when recording stops.")
@envoy_options(listen_default=10000)
@click.option("--requests", "max_requests", type=click.IntRange(min=1),
              help="Stop after this many requests (default: Ctrl-C stops).")
@click.option("--expect", "with_expect", is_flag=True,
              help="Expect the responses as they were (status, content-type, text body, "
                   "whether the upstream was reached).")
@click.option("--keep-secrets", is_flag=True,
              help="Keep authorization and cookie values (redacted by default).")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=1 << 20,
              show_default=True, help="Longest body the taps keep (longer: refused).")
@click.option("--traces", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the tap traces in this folder (default: a temporary one).")
def command(module: Path, output: Path, plugin_config: Path | None, failure_policy: str,
            workers: int, listen: int, upstream: str | None, max_requests: int | None,
            with_expect: bool, keep_secrets: bool, max_body_bytes: int,
            traces: Path | None) -> None:
    """Start Envoy as ``meshwasm run`` does, with Envoy's tap filter before MODULE.wasm and
    after it; send requests to it (curl, a browser, a test), then stop it (Ctrl-C, or
    --requests N): OUTPUT gets every request, what the upstream answered, and with --expect
    the responses as expectations.  Replay it with ``meshwasm replay MODULE.wasm OUTPUT``.
    """
    from meshwasm.files import write_atomically
    from meshwasm.capture.model import CaptureError
    from meshwasm.capture.tap import read_recorded
    from meshwasm.capture.to_traffic import to_traffic
    from meshwasm.deploy.envoy.tap import CLIENT_PREFIX, UPSTREAM_PREFIX, tapped_bootstrap

    if module.suffix == ".py":
        raise click.UsageError(f"{module} is a filter's source, not a module: build it first")
    with tempfile.TemporaryDirectory(prefix="meshwasm-record-") as scratch:
        folder = traces or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            echo = run_echo_upstream() if upstream is None else nullcontext(None)
            with interrupt_on_sigterm(), echo as echo_port:
                target = upstream or f"{LOOPBACK}:{echo_port}"
                options = to_envoy_options(module.resolve(), target, plugin_config,
                                           failure_policy, workers, listen)
                config = tapped_bootstrap(options, folder.resolve(), max_body_bytes)
                with start_envoy(options, config=config, wasm_log_level="info") as envoy:
                    click.echo(f"recording on http://{LOOPBACK}:{envoy.listener_port}/ "
                               f"(upstream {target}); "
                               + (f"stops after {max_requests} requests" if max_requests
                                  else "Ctrl-C stops"), err=False)
                    _wait(envoy, folder, max_requests)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        except EnvoyError as error:
            raise click.ClickException(str(error)) from None
        try:
            exchanges = read_recorded(folder, CLIENT_PREFIX, UPSTREAM_PREFIX) or []
            if not exchanges:
                raise click.ClickException("no request passed through: nothing to write")
            conversion = to_traffic(exchanges, expect=with_expect, keep_secrets=keep_secrets)
        except CaptureError as error:
            raise BadInput(str(error)) from None
    text = conversion.yaml_text(f"Recorded by meshwasm record through {module.name}."
                                + ("" if keep_secrets else "\nSecret headers are REDACTED."))
    write_atomically(output, text.encode())
    for note in conversion.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {len(exchanges)} requests to {output}", err=True)


def _wait(envoy: EnvoyProcess, folder: Path, max_requests: int | None) -> None:
    """Until Envoy exits, Ctrl-C, or ``max_requests`` client traces were written."""
    from meshwasm.deploy.envoy.tap import CLIENT_PREFIX
    process = envoy.process
    while process.poll() is None:
        if max_requests is not None and \
                len(list(folder.glob(f"{CLIENT_PREFIX}_*.json"))) >= max_requests:
            time.sleep(0.2)  # the upstream-side trace of the last stream is written with it
            return
        time.sleep(0.05)
    raise click.ClickException(f"Envoy exited with code {process.returncode}; log tail:\n"
                               f"{envoy.log_tail()}")
