"""``meshwasm build FILTER.py -o OUT.wasm``."""

from __future__ import annotations

from pathlib import Path

import click

from meshwasm.build.errors import BuildError
from meshwasm.build.toolchain import ToolchainError


@click.command("build")
@click.argument("filter_path", metavar="FILTER.py",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the module (default: FILTER.wasm beside the filter).")
@click.option("-v", "--verbose", is_flag=True, help="Show stage timings and bundled modules.")
def command(filter_path: Path, output: Path | None, verbose: bool) -> None:
    """Compile a Python filter into one proxy-wasm (ABI 0.2.1) module."""
    from meshwasm.build.pipeline import build_filter
    from meshwasm.build.progress import ConsoleProgress
    from meshwasm.build.stamp import read_stamp

    output = output or filter_path.with_suffix(".wasm")
    progress = ConsoleProgress()
    try:
        result = build_filter(filter_path, output, progress=progress)
    except (BuildError, ToolchainError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        progress.close()
    origin = "cached" if result.cached else f"{result.timings['total']:.1f}s"
    click.echo(f"built {output} ({result.size / 1e6:.2f} MB, {origin})")
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
