"""``meshwasm import CAPTURE... -o TRAFFIC.yaml``: captured traffic as a traffic file."""

from __future__ import annotations

from pathlib import Path

import click

FORMATS = ("har", "tap", "access-log")


class BadInput(click.ClickException):
    """A capture that cannot be read: exit 2, as every command's bad input."""

    exit_code = 2


def _guess_format(paths: tuple[Path, ...]) -> str:
    first = paths[0]
    if first.is_dir() or first.suffix == ".json":
        return "tap"
    if first.suffix == ".har":
        return "har"
    if first.suffix in (".log", ".jsonl", ".ndjson"):
        return "access-log"
    raise click.UsageError(f"cannot tell the format of {first} from its name: give --format "
                           f"({'|'.join(FORMATS)})")


@click.command("import")
@click.argument("captures", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The traffic file to write.")
@click.option("--format", "capture_format", type=click.Choice(FORMATS),
              help="The captures' format (default: by name: .har, .json or a folder of tap "
                   "traces, .log/.jsonl access logs).")
@click.option("--expect", "with_expect", is_flag=True,
              help="Expect the recorded responses (status, content-type, text body).")
@click.option("--keep-secrets", is_flag=True,
              help="Keep authorization, proxy-authorization, cookie and set-cookie values "
                   "(redacted by default).")
@click.option("--keep-timing", is_flag=True,
              help="Give each request an 'at:' from the capture's timestamps (HAR, access "
                   "logs).")
@click.option("--upstream-tap", "upstream_taps", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Tap traces taken between the filter and the upstream (file or folder; "
                   "matched by x-request-id): what the upstream answered and whether it was "
                   "reached.")
def command(captures: tuple[Path, ...], output: Path, capture_format: str | None,
            with_expect: bool, keep_secrets: bool, keep_timing: bool,
            upstream_taps: tuple[Path, ...]) -> None:
    """Turn CAPTUREs (a browser's HAR file, Envoy tap traces, an Envoy JSON access log) into
    a traffic file for ``meshwasm replay``.

    Secrets are redacted unless --keep-secrets; a capture that cannot be read stops the
    import, naming the file and the entry, and nothing is written.
    """
    from meshwasm.files import write_atomically
    from meshwasm.capture.access_log import read_access_log
    from meshwasm.capture.har import read_har
    from meshwasm.capture.model import CaptureError
    from meshwasm.capture.tap import read_recorded, read_tap
    from meshwasm.capture.to_traffic import to_traffic
    from meshwasm.replay.traffic import TrafficError, parse_traffic

    kind = capture_format or _guess_format(captures)
    try:
        recorded = read_recorded(captures[0]) \
            if kind == "tap" and len(captures) == 1 and not upstream_taps else None
        if recorded is not None:  # a folder record --traces kept: both sides, paired
            exchanges = recorded
        elif kind == "tap":
            exchanges = read_tap(list(captures), list(upstream_taps) or None)
        else:
            if upstream_taps:
                raise click.UsageError("--upstream-tap goes with tap traces only")
            reader = read_har if kind == "har" else read_access_log
            exchanges = [e for path in captures for e in reader(path)]
        conversion = to_traffic(exchanges, expect=with_expect and kind != "access-log",
                                keep_secrets=keep_secrets, keep_timing=keep_timing)
    except CaptureError as error:
        raise BadInput(str(error)) from None
    if with_expect and kind == "access-log":
        click.echo("note: an access log records no responses to expect: requests only",
                   err=True)
    text = conversion.yaml_text(
        f"Imported by meshwasm import from {', '.join(str(c) for c in captures)} ({kind})."
        + ("" if keep_secrets else "\nSecret headers are REDACTED: put real values back to "
                                   "replay them."))
    try:
        parse_traffic(text, str(output))  # what is written must load
    except TrafficError as error:  # pragma: no cover - a bug in the converter
        raise click.ClickException(f"the converted traffic does not load: {error}") from None
    write_atomically(output, text.encode())
    for note in conversion.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {len(exchanges)} requests to {output}", err=True)
