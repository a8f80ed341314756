"""``meshwasm dev FILTER.py``: rebuild on save, replay the traffic file, hot-swap into Envoy.

The loop polls the modification times of the filter, every module bundled with it that lives
beside it, and the traffic file (polling is portable and cheap for a few dozen files).  On a
change: build (cached stages make this a few seconds), replay the traffic in the harness and
print the report, and with ``--envoy`` swap the module into the running Envoy through its
file-watched listener (``deploy.envoy.reloadable``) — requests in flight finish on the old module.
A build error is shown and the loop keeps watching; the last good module keeps serving.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console

from meshwasm.commands.envoy_options import PLUGIN_CONFIG_OPTION, read_plugin_config
from meshwasm.commands.run import interrupt_on_sigterm
from meshwasm.deploy.envoy.reloadable import DevEnvoy, start_dev_envoy
from meshwasm.deploy.envoy.echo_upstream import run_echo_upstream
from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.deploy.envoy.process import EnvoyError


@dataclass
class CycleResult:
    built: bool
    replay_ok: bool | None = None  # None: no traffic file, or no build
    reload_seconds: float | None = None
    error: str = ""


@dataclass
class DevLoop:
    """One filter under development.  ``cycle`` is legal at any time; ``envoy`` may be None."""

    filter_path: Path
    traffic_path: Path | None
    output: Path
    console: Console
    envoy: DevEnvoy | None = None
    #: --plugin-config's bytes, replacing the traffic file's (None: the traffic file's)
    plugin_config: bytes | None = None
    _watched: dict[Path, float] = field(default_factory=dict)
    _sources: set[Path] = field(default_factory=set)

    def _candidates(self) -> set[Path]:
        folder = self.filter_path.resolve().parent
        paths = {self.filter_path.resolve(), *self._sources}
        paths |= {p for p in folder.glob("*.py")}
        if self.traffic_path is not None:
            paths.add(self.traffic_path.resolve())
        return paths

    def _mtimes(self) -> dict[Path, float]:
        times = {}
        for path in self._candidates():
            try:
                times[path] = path.stat().st_mtime_ns
            except FileNotFoundError:
                times[path] = -1
        return times

    def changed(self) -> bool:
        """True when a watched file changed since the last ``cycle``."""
        return self._mtimes() != self._watched

    def cycle(self) -> CycleResult:
        """Build, replay, reload (with Envoy); report each step on the console."""
        from meshwasm.builder.errors import BuildError
        from meshwasm.builder.pipeline import build_filter
        from meshwasm.builder.toolchain import ToolchainError
        from meshwasm.files import OutputError

        self._watched = self._mtimes()
        self.console.rule(f"[bold]{self.filter_path.name}[/] {time.strftime('%H:%M:%S')}")
        try:
            with self.console.status(f"building {self.filter_path} ..."):
                result = build_filter(self.filter_path, self.output)
        except (BuildError, ToolchainError, OutputError) as error:
            self.console.print("[red]build failed[/] (still serving the last good module)")
            self.console.print(str(error), markup=False, highlight=False)
            return CycleResult(built=False, error=str(error))
        folder = self.filter_path.resolve().parent
        self._sources = {m.path.resolve() for m in result.closure.sources.values()
                         if m.path.resolve().is_relative_to(folder)}
        self._watched = self._mtimes()
        origin = "cached" if result.cached else f"{result.timings.get('total', 0):.1f}s"
        self.console.print(f"[green]built[/] {self.output} ({result.size / 1e6:.2f} MB, {origin})")
        outcome = CycleResult(built=True, replay_ok=self._replay())
        if self.envoy is not None:
            try:
                with self.console.status("reloading Envoy ..."):
                    outcome.reload_seconds = self.envoy.reload(self.output)
                self.console.print(f"[green]Envoy[/] serves the new module at {self.envoy.url} "
                                   f"(swapped in {outcome.reload_seconds:.2f}s)")
            except EnvoyError as error:
                outcome.error = str(error)
                self.console.print("[red]Envoy kept the previous module:[/]")
                self.console.print(str(error), markup=False, highlight=False)
        return outcome

    def _replay(self) -> bool | None:
        if self.traffic_path is None:
            return None
        from meshwasm import engines
        from meshwasm.replay.expect import evaluate, print_report
        from meshwasm.replay.traffic import TrafficError, load_traffic

        engine = engines.get("harness")  # the rebuilt module, at once (Envoy only serves it)
        try:
            traffic = load_traffic(self.traffic_path)
            if self.plugin_config is not None:
                traffic = dataclasses.replace(traffic, plugin_config=self.plugin_config)
            outcomes = evaluate(traffic, engine.replay(self.output, traffic))
        except (TrafficError, *engine.run_errors()) as error:
            self.console.print(f"[red]replay failed:[/] {error}", highlight=False)
            return False
        print_report(traffic, outcomes, engine.name, self.console)
        return all(outcome.ok for outcome in outcomes)

    def envoy_plugin_config(self) -> bytes:
        """What the dev Envoy's filter is configured with: --plugin-config, else the traffic
        file's configuration, else none."""
        if self.plugin_config is not None:
            return self.plugin_config
        if self.traffic_path is None:
            return b""
        from meshwasm.replay.traffic import TrafficError, load_traffic
        try:
            return load_traffic(self.traffic_path).plugin_config
        except TrafficError as error:
            raise click.ClickException(str(error)) from None

    def watch(self, interval: float, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Poll every ``interval`` seconds and cycle on each change, until ``should_stop``."""
        while not should_stop():
            if self.changed():
                self.cycle()
            time.sleep(interval)


def _traffic_for(filter_path: Path, traffic: Path | None) -> Path | None:
    if traffic is not None:
        return traffic
    beside = filter_path.resolve().parent / "traffic.yaml"
    return beside if beside.is_file() else None


@click.command("dev")
@click.argument("filter_path", metavar="FILTER.py",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--traffic", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Traffic file to replay (default: traffic.yaml beside the filter).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the module (default: FILTER.wasm beside the filter).")
@click.option("--envoy", "with_envoy", is_flag=True,
              help="Also keep an Envoy running with the filter and hot-swap each new build.")
@click.option("--listen", type=click.IntRange(0, 65535), default=10000, show_default=True,
              help="With --envoy: listener port on 127.0.0.1 (0: any free port).")
@click.option("--interval", type=float, default=0.5, show_default=True,
              help="Seconds between checks for changes.")
@click.option("--once", is_flag=True, help="Build and replay once, then exit (status 1 on "
                                           "a failed build or replay).")
@PLUGIN_CONFIG_OPTION
def command(filter_path: Path, traffic: Path | None, output: Path | None, with_envoy: bool,
            listen: int, interval: float, once: bool, plugin_config: Path | None) -> None:
    """Watch FILTER.py: rebuild, replay its traffic in the harness, and (--envoy) reload it
    into a running Envoy without dropping requests.  Ctrl-C stops."""
    console = Console(highlight=False)
    loop = DevLoop(filter_path, _traffic_for(filter_path, traffic),
                   output or filter_path.with_suffix(".wasm"), console,
                   plugin_config=read_plugin_config(plugin_config))
    if loop.traffic_path is None:
        console.print("[yellow]no traffic.yaml beside the filter and no --traffic: "
                      "build only[/]")
    first = loop.cycle()
    if once:
        if not first.built or first.replay_ok is False:
            raise SystemExit(1)
        return
    try:
        with interrupt_on_sigterm(), ExitStack() as stack:
            while with_envoy and not first.built:  # Envoy needs one good module to start
                loop.watch(interval, should_stop=loop.changed)
                first = loop.cycle()
            if with_envoy:
                upstream = stack.enter_context(run_echo_upstream())
                options = EnvoyOptions(upstream_port=upstream, listener_port=listen,
                                       plugin_config=loop.envoy_plugin_config())
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                    prefix="meshwasm-dev-")))
                with console.status("starting Envoy ..."):
                    loop.envoy = stack.enter_context(
                        start_dev_envoy(loop.output, options, workdir=workdir))
                console.print(f"[green]Envoy[/] listening on {loop.envoy.url} (echo upstream, "
                              f"Envoy pid {loop.envoy.envoy.pid})")
            console.print(f"watching {filter_path} (Ctrl-C stops)")
            loop.watch(interval)
    except KeyboardInterrupt:
        console.print("stopped")
    except EnvoyError as error:
        raise click.ClickException(str(error)) from None
