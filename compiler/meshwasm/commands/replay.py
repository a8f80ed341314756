"""``meshwasm replay MODULE.wasm TRAFFIC.yaml``: run a traffic file, compare, report.

With ``--engine source`` the first argument is the filter's ``FILTER.py``, run from source.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from rich.console import Console, Group
from rich.markup import escape

from meshwasm import engines
from meshwasm.builder.pipeline import write_atomically
from meshwasm.commands.envoy_options import (PLUGIN_CONFIG_OPTION, failure_policy_options,
                                             read_plugin_config)
from meshwasm.replay.ci_reports import json_report, junit_report
from meshwasm.replay.expect import (Outcome, compare, evaluate, print_report, render_outcome,
                                   render_summary)
from meshwasm.replay.model import FROM_TRAFFIC, FromTraffic, Traffic, Verdict
from meshwasm.replay.traffic import TrafficError, load_traffic

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2

T = TypeVar("T", int, float)


def _given(value: T | None) -> T | None | FromTraffic:
    """A limit option's value: not given, the traffic file's; 0, no limit."""
    return FROM_TRAFFIC if value is None else (value or None)


@click.command("replay")
@click.argument("modules", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False), metavar="MODULE... TRAFFIC")
@click.option("--wasmplugin", "wasmplugins", is_flag=True,
              help="The arguments before TRAFFIC are Istio WasmPlugin manifests: their "
                   "modules run as a chain in Istio's order (phase, then priority), each with "
                   "its pluginConfig and failStrategy; match selects them for inbound traffic "
                   "to --destination-port.")
@click.option("--destination-port", type=click.IntRange(1, 65535), default=80,
              show_default=True,
              help="With --wasmplugin: the port the replayed (inbound) traffic is for, which "
                   "a manifest's match.ports selects on.")
@click.option("--engine", type=click.Choice(engines.names()),
              default=engines.names()[0], show_default=True,
              help="Run the module in the local harness or in real Envoy; 'source' runs "
                   "FILTER.py itself (not a module) in the harness, from source.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the report as JSON to this file.")
@click.option("--junit-xml", "junit_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the report as JUnit XML (a test case per request) to this file.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show every log line of every request (a failing request always shows "
                   "its warnings and errors).")
@click.option("--callback-time-limit", "time_limit_s", type=click.FloatRange(min=0),
              metavar="SECONDS",
              help="Harness and source engines: stop a callback running longer than this "
                   "(wall-clock) and fail its VM as a trap would; 0: no limit.  Default: the "
                   "traffic file's harness_limits, else 30.")
@click.option("--memory-limit", "memory_limit_mb", type=click.IntRange(min=0), metavar="MiB",
              help="Source engine: how much memory one request may add to the process "
                   "before the filter gets MemoryError; 0: no limit.  Default: the traffic "
                   "file's harness_limits, else 1024.")
@click.option("--update", is_flag=True,
              help="Snapshot: show, as a diff of TRAFFIC, the expectations (status, the "
                   "headers they name, body) set to what this replay observed.")
@click.option("--write", is_flag=True,
              help="With --update: write that change to TRAFFIC (comments and layout kept).")
@click.option("--snapshot-header", "snapshot_headers", multiple=True, metavar="NAME",
              help="With --update: also snapshot this response header (repeatable).")
@PLUGIN_CONFIG_OPTION
@failure_policy_options
def command(modules: tuple[Path, ...], wasmplugins: bool, destination_port: int,
            engine: str, json_path: Path | None,
            junit_path: Path | None, verbose: bool, time_limit_s: float | None,
            memory_limit_mb: int | None, update: bool, write: bool,
            snapshot_headers: tuple[str, ...], plugin_config: Path | None,
            failure_policy: str) -> None:
    """Replay TRAFFIC (a traffic YAML file, the last argument) against MODULE (a proxy-wasm
    .wasm file, or the filter's .py file with --engine source).

    Several MODULEs run as a chain, in the order given, as Envoy's filter chain runs them
    (each gets the traffic file's plugin_config); with --wasmplugin they are WasmPlugin
    manifests, ordered as Istio orders them.

    Prints one line per request and a diff for each one that is not as expected.
    Exit status: 0 all as expected, 1 some not, 2 bad traffic file or module, 3 meshwasm
    itself failed; with --engine source, 40 (Linux, glibc): a callback was stuck in C code,
    which source mode cannot interrupt (the requests shown before it are done).
    """
    console = Console(highlight=False)
    if (write or snapshot_headers) and not update:
        _bad_input(console, "--write and --snapshot-header go with --update")
    snapshots = _Snapshots(update, write, snapshot_headers)
    if len(modules) < 2:
        _bad_input(console, "give a MODULE (or, with --wasmplugin, manifests) and a TRAFFIC "
                            "file")
    *plugins, traffic = modules
    module = plugins[0]
    try:
        parsed = load_traffic(traffic)
    except TrafficError as error:
        console.print(f"[red]error:[/] bad traffic file\n{escape(str(error))}", markup=True,
                      soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    config = read_plugin_config(plugin_config)
    if config is not None:  # --plugin-config replaces the traffic file's
        parsed = dataclasses.replace(parsed, plugin_config=config)
    if wasmplugins or len(plugins) > 1:
        _replay_chain(console, plugins, parsed, wasmplugins, destination_port, engine,
                      json_path, junit_path, verbose, _given(time_limit_s),
                      _given(memory_limit_mb), failure_policy, snapshots)
        return
    chosen = engines.get(engine)
    if chosen.runs != "source" and module.suffix == ".py":
        console.print(f"[red]error:[/] {escape(str(module))} is a filter's source, not a "
                      "module: build it first (meshwasm build FILTER.py -o FILTER.wasm), or "
                      "use --engine source", markup=True, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT)
    replay = chosen.replay_function(engines.Limits(_given(time_limit_s),
                                                   _given(memory_limit_mb)))
    errors = chosen.run_errors()
    if engine == "envoy" and parsed.now_ns is not None:
        from meshwasm.deploy.envoy.replay import NOW_IGNORED
        console.print(f"[yellow]warning:[/] {escape(NOW_IGNORED)}", markup=True, soft_wrap=True)
    files = [traffic, module]
    streamed = engine in STREAMED_ENGINES
    if streamed:
        replay = functools.partial(replay, on_verdict=_shower(console, parsed, verbose, files))
    try:
        verdicts = replay(module, parsed, failure_policy=failure_policy)
    except errors as error:
        console.print("[red]error:[/] the module cannot run", markup=True)
        console.print(str(error), markup=False, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    _report(console, parsed, verdicts, engine, files, json_path, junit_path,
            verbose, snapshots, streamed=streamed)


#: engines whose requests are shown as each is done: in Envoy real time passes between them;
#: in source mode a callback stuck in C code ends the process (harness/source_watchdog.py),
#: and what was shown (flushed) tells how far the replay got
STREAMED_ENGINES = ("envoy", "source")


def _shower(console: Console, parsed: Traffic, verbose: bool,
            files: list[Path]) -> Callable[[int, Verdict], None]:
    """An ``on_verdict`` printing each request's part of the report as it is done."""
    def show(index: int, verdict: Verdict) -> None:
        exchange = parsed.exchanges[index]
        outcome = Outcome(exchange, verdict, compare(exchange.expect, verdict))
        console.print(Group(*render_outcome(parsed, index + 1, outcome, verbose,
                                            _source_dirs(files))), soft_wrap=True)
        console.file.flush()
    return show


def _source_dirs(files: list[Path]) -> list[Path]:
    """Where a traceback's source lines are looked up."""
    return [*(path.resolve().parent for path in files), Path.cwd()]


def _bad_input(console: Console, message: str) -> NoReturn:
    console.print(f"[red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise SystemExit(EXIT_BAD_INPUT)


@dataclass(frozen=True)
class _Snapshots:
    """``--update``, ``--write`` and ``--snapshot-header`` (``replay/snapshot.py``)."""

    update: bool = False
    write: bool = False
    headers: tuple[str, ...] = ()

    def apply(self, console: Console, traffic: Traffic, verdicts: list[Verdict]) -> bool:
        """Show (and with --write write) the snapshot diff; True when the file was written
        and now expects what was observed."""
        from meshwasm.replay.snapshot import snapshot
        text = traffic.path.read_text(encoding="utf-8")
        result = snapshot(text, traffic, verdicts, self.headers)
        for note in result.notes:
            console.print(f"note: {escape(note)}", markup=True, soft_wrap=True)
        if not result.changed:
            console.print("snapshot: the expectations are what was observed", markup=False)
            return False
        console.print(result.diff(str(traffic.path)), markup=False, soft_wrap=True,
                      end="")
        if not self.write:
            console.print("snapshot: not written (add --write to accept it)", markup=False)
            return False
        write_atomically(traffic.path, result.after.encode())
        console.print(f"snapshot: wrote {traffic.path}", markup=False)
        return True


def _report(console: Console, parsed: Traffic, verdicts: list[Verdict], engine: str,
            files: list[Path], json_path: Path | None, junit_path: Path | None,
            verbose: bool, snapshots: _Snapshots, *, streamed: bool = False) -> None:
    """Compare, print (``streamed``: each request was shown as it came, so only the
    summary), write the CI reports, apply --update; exit 1 on any mismatch (after a written
    snapshot: any that remains, e.g. a log check)."""
    outcomes = evaluate(parsed, verdicts)
    if streamed:
        console.print(render_summary(outcomes, engine), soft_wrap=True)
    else:
        print_report(parsed, outcomes, engine, console, verbose=verbose,
                     source_dirs=_source_dirs(files))
    for path, render in ((json_path, json_report), (junit_path, junit_report)):
        if path is not None:
            write_atomically(path, render(parsed, outcomes, engine).encode())
    if snapshots.update and snapshots.apply(console, parsed, verdicts):
        try:
            outcomes = evaluate(load_traffic(parsed.path), verdicts)
        except TrafficError as error:  # pragma: no cover - the snapshot wrote bad YAML
            _bad_input(console, f"the written snapshot does not load: {error}")
    if not all(outcome.ok for outcome in outcomes):
        raise SystemExit(EXIT_MISMATCH)


def _replay_chain(console: Console, plugins: list[Path], parsed: Traffic, wasmplugins: bool,
                  destination_port: int, engine: str, json_path: Path | None,
                  junit_path: Path | None, verbose: bool,
                  time_limit_s: float | None | FromTraffic,
                  memory_limit_mb: int | None | FromTraffic, failure_policy: str,
                  snapshots: _Snapshots) -> None:
    """``replay`` of a chain of plugins (``harness/chain.py``, ``deploy/envoy/chain.py``)."""
    import tempfile

    from meshwasm.deploy.istio.plugin_chain import (
        ChainError, istio_order, load_wasmplugin, plain_chain,
    )
    from meshwasm.harness.errors import HarnessError
    with tempfile.TemporaryDirectory(prefix="meshwasm-chain-") as pulled:
        try:
            chain = istio_order(
                [load_wasmplugin(path, index, Path(pulled), source_module=engine == "source")
                 for index, path in enumerate(plugins)] if wasmplugins
                else plain_chain(plugins))
        except ChainError as error:
            _bad_input(console, str(error))
        for plugin in [p for p in chain if not p.applies_to_inbound(destination_port)]:
            console.print(f"note: {escape(plugin.name)} is left out: its match selects no "
                          f"inbound traffic to port {destination_port}", markup=True)
        chain = [p for p in chain if p.applies_to_inbound(destination_port)]
        if not chain:
            _bad_input(console, "no plugin of the chain applies to this traffic")
        for plugin in chain:
            if engine != "source" and plugin.module.suffix == ".py":
                _bad_input(console, f"{plugin.module} is a filter's source, not a module: "
                                    "build it first, or use --engine source")
        console.print("chain: " + " -> ".join(escape(p.name) for p in chain), markup=True)
        files = [parsed.path, *(p.module for p in chain)]
        shower = _shower(console, parsed, verbose, files) if engine == "source" else None
        try:
            if engine == "envoy":
                from meshwasm.deploy.envoy import replay as envoy_replay
                from meshwasm.deploy.envoy.chain import replay_chain_in_envoy
                if parsed.now_ns is not None:
                    console.print(f"[yellow]warning:[/] {escape(envoy_replay.NOW_IGNORED)}",
                                  markup=True, soft_wrap=True)
                verdicts = replay_chain_in_envoy(chain, parsed, failure_policy=failure_policy)
            else:
                from meshwasm.harness.chain import replay_chain
                verdicts = replay_chain(chain, parsed, failure_policy=failure_policy,
                                        time_limit_s=time_limit_s,
                                        memory_limit_mb=memory_limit_mb,
                                        on_verdict=shower)
        except (HarnessError, RuntimeError, ValueError) as error:
            console.print("[red]error:[/] the chain cannot run", markup=True)
            console.print(str(error), markup=False, soft_wrap=True)
            raise SystemExit(EXIT_BAD_INPUT) from None
    _report(console, parsed, verdicts, engine, files, json_path, junit_path, verbose,
            snapshots, streamed=shower is not None)
