"""``meshwasm replay MODULE.wasm TRAFFIC.yaml``: run a traffic file, compare, report.

With ``--engine source`` the first argument is the filter's ``FILTER.py``, run from source.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from meshwasm import engines
from meshwasm.build.pipeline import write_atomically
from meshwasm.commands.envoy_options import failure_policy_options
from meshwasm.replay.ci_reports import json_report, junit_report
from meshwasm.replay.expect import evaluate, print_report
from meshwasm.replay.traffic import TrafficError, load_traffic

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2


@click.command("replay")
@click.argument("module", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("traffic", type=click.Path(path_type=Path, dir_okay=False))
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
              default=30.0, show_default=True, metavar="SECONDS",
              help="Harness and source engines: stop a callback running longer than this "
                   "(wall-clock) and fail its VM as a trap would; 0: no limit.")
@click.option("--memory-limit", "memory_limit_mb", type=click.IntRange(min=0), default=1024,
              show_default=True, metavar="MiB",
              help="Source engine: how much memory one request may add to the process "
                   "before the filter gets MemoryError; 0: no limit.")
@failure_policy_options
def command(module: Path, traffic: Path, engine: str, json_path: Path | None,
            junit_path: Path | None, verbose: bool, time_limit_s: float,
            memory_limit_mb: int, failure_policy: str) -> None:
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
    chosen = engines.get(engine)
    if chosen.runs != "source" and module.suffix == ".py":
        console.print(f"[red]error:[/] {escape(str(module))} is a filter's source, not a "
                      "module: build it first (meshwasm build FILTER.py -o FILTER.wasm), or "
                      "use --engine source", markup=True, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT)
    replay = chosen.replay_function(engines.Limits(time_limit_s or None,
                                                   memory_limit_mb or None))
    errors = chosen.run_errors()
    if engine == "envoy" and parsed.now_ns is not None:
        from meshwasm.deploy.envoy_replay import NOW_IGNORED
        console.print(f"[yellow]warning:[/] {escape(NOW_IGNORED)}", markup=True, soft_wrap=True)
    try:
        verdicts = replay(module, parsed, failure_policy=failure_policy)
    except errors as error:
        console.print("[red]error:[/] the module cannot run", markup=True)
        console.print(str(error), markup=False, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    outcomes = evaluate(parsed, verdicts)
    source_dirs = [traffic.resolve().parent, module.resolve().parent, Path.cwd()]
    print_report(parsed, outcomes, engine, console, verbose=verbose, source_dirs=source_dirs)
    for path, render in ((json_path, json_report), (junit_path, junit_report)):
        if path is not None:
            write_atomically(path, render(parsed, outcomes, engine).encode())
    if not all(outcome.ok for outcome in outcomes):
        raise SystemExit(EXIT_MISMATCH)
