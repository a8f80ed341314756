"""``meshwasm push MODULE.wasm REF``: upload a module as a Wasm image Istio can pull."""

from __future__ import annotations

from pathlib import Path

import click

from meshwasm.deploy.oci.image import FORMATS


@click.command("push")
@click.argument("module", metavar="MODULE.wasm",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("reference", metavar="REF")
@click.option("--format", "variant", type=click.Choice(FORMATS), default="oci", show_default=True,
              help="oci: Wasm artifact media types; compat: a container image whose single "
                   "tar.gz layer holds plugin.wasm (for registries that refuse custom types).")
@click.option("--plain-http", is_flag=True, default=None,
              help="Talk HTTP, not HTTPS (automatic for localhost/127.0.0.1).")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds for each registry request.")
def command(module: Path, reference: str, variant: str, plain_http: bool | None,
            timeout: float) -> None:
    """Push MODULE.wasm to REF (registry/repository[:tag]) and print the manifest digest.

    Use the printed REF@sha256:... as the WasmPlugin url (``meshwasm wasmplugin``): Istio's
    agent checks a WasmPlugin's sha256 against this manifest digest.
    """
    from meshwasm.deploy.oci.transfer import ImageError, RegistryError, push

    try:
        result = push(module, reference, variant=variant, plain_http=plain_http or None,
                      timeout=timeout)
    except (ImageError, RegistryError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"pushed {module} ({result.size / 1e6:.2f} MB, {variant} format) to "
               f"{result.reference}", err=True)
    click.echo(result.digest)
    click.echo(f"pinned: oci://{result.pinned}", err=True)
