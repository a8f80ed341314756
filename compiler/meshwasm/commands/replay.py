"""``meshwasm replay MODULE.wasm TRAFFIC.yaml``: run a traffic file, compare, report.

With ``--engine source`` the first argument is the filter's ``FILTER.py``, run from source.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console, Group
from rich.markup import escape

from meshwasm.build.pipeline import write_atomically
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
Engine = Callable[..., list[Verdict]]  # (module, traffic, failure_policy=...)


def _engine(name: str, time_limit_s: float | None | FromTraffic,
            memory_limit_mb: int | None | FromTraffic
            ) -> tuple[Engine, tuple[type[Exception], ...]]:
    """The replay function of engine ``name`` (with the harness's limits, for the engines
    that have them) and the errors meaning "cannot run"."""
    from meshwasm.harness.errors import HarnessError
    if name == "envoy":
        # Imported only when asked for: it needs the Envoy binary and its own modules.
        from meshwasm.deploy import envoy_replay
        errors = tuple(getattr(envoy_replay, n) for n in ("EnvoyError", "EnvoyReplayError")
                       if isinstance(getattr(envoy_replay, n, None), type))
        return envoy_replay.replay_in_envoy, (HarnessError, *errors)
    if name == "source":
        from meshwasm.harness.source import replay_source
        return functools.partial(replay_source, time_limit_s=time_limit_s,
                                 memory_limit_mb=memory_limit_mb), (HarnessError,)
    from meshwasm.harness import replay_module
    return functools.partial(replay_module, time_limit_s=time_limit_s), (HarnessError,)


def _given(value: T | None) -> T | None | FromTraffic:
    """A limit option's value: not given, the traffic file's; 0, no limit."""
    return FROM_TRAFFIC if value is None else (value or None)


@click.command("replay")
@click.argument("module", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("traffic", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--engine", type=click.Choice(["harness", "envoy", "source"]),
              default="harness", show_default=True,
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
@PLUGIN_CONFIG_OPTION
@failure_policy_options
def command(module: Path, traffic: Path, engine: str, json_path: Path | None,
            junit_path: Path | None, verbose: bool, time_limit_s: float | None,
            memory_limit_mb: int | None, plugin_config: Path | None,
            failure_policy: str) -> None:
    """Replay TRAFFIC (a traffic YAML file) against MODULE (a proxy-wasm .wasm file, or the
    filter's .py file with --engine source).

    Prints one line per request and a diff for each one that is not as expected.
    Exit status: 0 all as expected, 1 some not, 2 bad traffic file or module, 3 meshwasm
    itself failed.
    """
    console = Console(highlight=False)
    try:
        parsed = load_traffic(traffic)
    except TrafficError as error:
        console.print(f"[red]error:[/] bad traffic file\n{escape(str(error))}", markup=True,
                      soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    config = read_plugin_config(plugin_config)
    if config is not None:  # --plugin-config replaces the traffic file's
        parsed = dataclasses.replace(parsed, plugin_config=config)
    if engine != "source" and module.suffix == ".py":
        console.print(f"[red]error:[/] {escape(str(module))} is a filter's source, not a "
                      "module: build it first (meshwasm build FILTER.py -o FILTER.wasm), or "
                      "use --engine source", markup=True, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT)
    replay, errors = _engine(engine, _given(time_limit_s), _given(memory_limit_mb))
    if engine == "envoy" and parsed.now_ns is not None:
        from meshwasm.deploy.envoy_replay import NOW_IGNORED
        console.print(f"[yellow]warning:[/] {escape(NOW_IGNORED)}", markup=True, soft_wrap=True)
    source_dirs = [traffic.resolve().parent, module.resolve().parent, Path.cwd()]
    streamed = engine == "envoy"  # real time passes between requests: show each as it comes
    if streamed:
        def show(index: int, verdict: Verdict) -> None:
            exchange = parsed.exchanges[index]
            outcome = Outcome(exchange, verdict, compare(exchange.expect, verdict))
            console.print(Group(*render_outcome(parsed, index + 1, outcome, verbose,
                                                source_dirs)), soft_wrap=True)
        replay = functools.partial(replay, on_verdict=show)
    try:
        verdicts = replay(module, parsed, failure_policy=failure_policy)
    except errors as error:
        console.print("[red]error:[/] the module cannot run", markup=True)
        console.print(str(error), markup=False, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    outcomes = evaluate(parsed, verdicts)
    if streamed:
        console.print(render_summary(outcomes, engine), soft_wrap=True)
    else:
        print_report(parsed, outcomes, engine, console, verbose=verbose,
                     source_dirs=source_dirs)
    for path, render in ((json_path, json_report), (junit_path, junit_report)):
        if path is not None:
            write_atomically(path, render(parsed, outcomes, engine).encode())
    if not all(outcome.ok for outcome in outcomes):
        raise SystemExit(EXIT_MISMATCH)
