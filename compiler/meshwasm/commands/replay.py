"""``meshwasm replay MODULE.wasm TRAFFIC.yaml``: run a traffic file, compare, report.

With ``--engine source`` the first argument is the filter's ``FILTER.py``, run from source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from meshwasm.commands.envoy_options import failure_policy_options
from meshwasm.replay.expect import evaluate, print_report
from meshwasm.replay.model import Traffic, Verdict
from meshwasm.replay.traffic import TrafficError, load_traffic

EXIT_MISMATCH = 1
EXIT_BAD_INPUT = 2

Engine = Callable[..., list[Verdict]]  # (module, traffic, failure_policy=...)


def _engine(name: str) -> tuple[Engine, tuple[type[Exception], ...]]:
    """The replay function of engine ``name`` and the errors meaning "cannot run"."""
    from meshwasm.harness.errors import HarnessError
    if name == "envoy":
        # Imported only when asked for: it needs the Envoy binary and its own modules.
        from meshwasm.deploy import envoy_replay
        errors = tuple(getattr(envoy_replay, n) for n in ("EnvoyError", "EnvoyReplayError")
                       if isinstance(getattr(envoy_replay, n, None), type))
        return envoy_replay.replay_in_envoy, (HarnessError, *errors)
    if name == "source":
        from meshwasm.harness.source import replay_source
        return replay_source, (HarnessError,)
    from meshwasm.harness import replay_module
    return replay_module, (HarnessError,)


@click.command("replay")
@click.argument("module", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("traffic", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--engine", type=click.Choice(["harness", "envoy", "source"]),
              default="harness", show_default=True,
              help="Run the module in the local harness or in real Envoy; 'source' runs "
                   "FILTER.py itself (not a module) in the harness, from source.")
@failure_policy_options
def command(module: Path, traffic: Path, engine: str, failure_policy: str) -> None:
    """Replay TRAFFIC (a traffic YAML file) against MODULE (a proxy-wasm .wasm file, or the
    filter's .py file with --engine source).

    Prints one line per request and a diff for each one that is not as expected.
    Exit status: 0 all as expected, 1 some not, 2 bad traffic file or module.
    """
    console = Console(highlight=False)
    try:
        parsed = load_traffic(traffic)
    except TrafficError as error:
        console.print(f"[red]error:[/] bad traffic file\n{error}", markup=True, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    replay, errors = _engine(engine)
    try:
        verdicts = replay(module, parsed, failure_policy=failure_policy)
    except errors as error:
        console.print("[red]error:[/] the module cannot run", markup=True)
        console.print(str(error), markup=False, soft_wrap=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    outcomes = evaluate(parsed, verdicts)
    print_report(parsed, outcomes, engine, console)
    if not all(outcome.ok for outcome in outcomes):
        raise SystemExit(EXIT_MISMATCH)
