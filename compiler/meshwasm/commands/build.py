"""``meshwasm build FILTER.py -o OUT.wasm``."""

from __future__ import annotations

from pathlib import Path

import click

from meshwasm.builder.errors import BuildError
from meshwasm.builder.toolchain import ToolchainError
from meshwasm.files import OutputError


@click.command("build")
@click.argument("filter_path", metavar="FILTER.py",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the module (default: FILTER.wasm beside the filter).")
@click.option("-v", "--verbose", is_flag=True, help="Show stage timings and bundled modules.")
@click.option("--trim-to", "trim_to", multiple=True, metavar="TRAFFIC.yaml",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Opt-in: replay these traffic files at build time and turn every function "
                   "they never run into a stub that fails the request by the filter's fail "
                   "policy.  Smaller and faster to start; only as safe as the traffic is "
                   "complete.")
@click.option("--names", is_flag=True,
              help="Keep C function names in the module (a 'name' section, ~0.1 MB): traps "
                   "in Envoy's log and in wasmtime then name functions instead of numbers.")
def command(filter_path: Path, output: Path | None, verbose: bool,
            trim_to: tuple[Path, ...], names: bool) -> None:
    """Compile a Python filter into one proxy-wasm (ABI 0.2.1) module."""
    from meshwasm.builder.lint import lint_closure
    from meshwasm.builder.pipeline import build_filter
    from meshwasm.builder.progress import ConsoleProgress
    from meshwasm.builder.stamp import read_stamp

    output = output or filter_path.with_suffix(".wasm")
    progress = ConsoleProgress()
    try:
        result = build_filter(filter_path, output, progress=progress,
                              trim_to=list(trim_to) or None, names=names)
    except (BuildError, ToolchainError, OutputError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        progress.close()
    for warning in lint_closure(result.closure):
        click.echo(f"warning: {warning}", err=True)
    origin = "cached" if result.cached else f"{result.timings['total']:.1f}s"
    click.echo(f"built {output} ({result.size / 1e6:.2f} MB, {origin})")
    trimmed = (read_stamp(output.read_bytes()) or {}).get("trimmed")
    if trimmed:  # always reported: the module behaves differently outside that traffic
        click.echo(f"  {trimmed}")
    if verbose:
        stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.timings.items())
        click.echo(f"  stages: {stages}")
        if result.reduction is not None:
            click.echo(f"  {result.reduction.describe()}")
        else:  # cached: the module's stamp says what the stage did when it was built
            recorded = (read_stamp(output.read_bytes()) or {}).get("reachability")
            if recorded:
                click.echo(f"  reachability: {recorded}")
        click.echo(f"  modules: {', '.join(sorted(result.closure.sources))}")
        click.echo(f"  builtins: {', '.join(sorted(result.closure.builtins))}")
