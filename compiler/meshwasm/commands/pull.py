"""``meshwasm pull REF -o OUT.wasm``: fetch a Wasm image's module, verified, atomically."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("pull")
@click.argument("reference", metavar="REF")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the module.")
@click.option("--plain-http", is_flag=True, default=None,
              help="Talk HTTP, not HTTPS (automatic for localhost/127.0.0.1).")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds for each registry request.")
def command(reference: str, output: Path, plain_http: bool | None, timeout: float) -> None:
    """Pull the module of the Wasm image REF (either variant) into OUTPUT.

    The manifest digest is checked when REF is pinned (…@sha256:…), every blob against its
    sha256; OUTPUT is written only when all checks pass.  Prints the manifest digest.
    """
    from meshwasm.deploy.oci.transfer import ImageError, RegistryError, pull
    from meshwasm.files import OutputError

    try:
        result = pull(reference, output, plain_http=plain_http or None, timeout=timeout)
    except (ImageError, RegistryError, ValueError, OutputError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"pulled {result.reference} ({result.variant} format) to {output}; module "
               f"sha256 {result.module_sha256}", err=True)
    click.echo(result.digest)
