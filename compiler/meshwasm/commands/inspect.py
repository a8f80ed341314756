"""``meshwasm inspect MODULE.wasm``: build metadata, ABI version, imports and exports."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from meshwasm.builder.wasmbin import WasmFormatError
from meshwasm.module_info import ModuleInfo, read_module_info

#: build-stamp keys shown first, in this order; the rest follow alphabetically
_BUILD_KEYS = ("meshwasm", "python", "filter", "filter_sha256", "inputs_sha256")


def _print(info: ModuleInfo, console: Console) -> None:
    console.print(f"[bold]{info.path}[/]  {info.size / 1e6:.2f} MB  sha256 {info.sha256}")
    console.print(f"proxy-wasm ABI: {info.abi_version or 'none exported (not a proxy-wasm module)'}")
    if info.build is None:
        console.print("build: no meshwasm.build section (not built by meshwasm)")
    else:
        table = Table(title="build (meshwasm.build section)", show_header=False, box=None,
                      title_justify="left")
        keys = [k for k in _BUILD_KEYS if k in info.build]
        keys += sorted(k for k in info.build if k not in _BUILD_KEYS)
        for key in keys:
            value = info.build[key]
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            table.add_row(f"  {key}", text)
        console.print(table)
    imports = Table(title=f"imports ({len(info.imports)})", box=None, title_justify="left")
    for column in ("module", "name", "kind", "signature"):
        imports.add_column(column)
    for item in info.imports:
        imports.add_row(item.module, item.name, item.kind, item.signature)
    console.print(imports)
    exports = Table(title=f"exports ({len(info.exports)})", box=None, title_justify="left")
    for column in ("name", "kind", "signature"):
        exports.add_column(column)
    for export in info.exports:
        exports.add_row(export.name, export.kind, export.signature)
    console.print(exports)
    if info.custom_sections:
        console.print(f"custom sections: {', '.join(info.custom_sections)}")


@click.command("inspect")
@click.argument("module", metavar="MODULE.wasm",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def command(module: Path, as_json: bool) -> None:
    """Show what MODULE.wasm was built from (meshwasm modules), its ABI, imports and exports.

    Works for modules other SDKs built too; they just have no build metadata.
    """
    try:
        info = read_module_info(module)
    except (WasmFormatError, OSError) as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=2, sort_keys=True))
    else:
        _print(info, Console(highlight=False, width=120))
