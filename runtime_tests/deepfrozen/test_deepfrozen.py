"""CPython's deep-frozen modules after the snapshot (builder/deepfreeze.py): what the filter's
code imports keeps working, dead frozen code is gone, and an import nobody named fails as an
ordinary ImportError rather than reaching dropped code."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder import stamp
from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import replay_module
from meshwasm.replay.traffic import parse_traffic

HERE = Path(__file__).resolve().parent


def _request(name: str | None) -> str:
    headers = f"{{x-import: {name}}}" if name else "{}"
    return (f"  - name: import {name}\n    request: {{path: /, headers: {headers}}}\n"
            "    expect: {status: 200}\n")


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_filter(HERE / "filter.py", tmp_path_factory.mktemp("df") / "f.wasm").output


def _upstream_headers(module: Path, names: list[str | None]) -> list[dict[str, str]]:
    traffic = parse_traffic("requests:\n" + "".join(_request(name) for name in names))
    verdicts = replay_module(module, traffic)
    assert [verdict.status for verdict in verdicts] == [200] * len(names)
    return [dict(verdict.upstream_request.headers) for verdict in verdicts]


@pytest.mark.slow
def test_a_frozen_module_named_in_the_code_works_when_imported_at_request_time(module: Path) -> None:
    first, again = _upstream_headers(module, [None, "codecs"])
    assert first["x-joined"] == "a/b"  # `import posixpath` inside the callback
    assert again["x-import-result"] == "ok"  # imported at start-up, still in sys.modules


@pytest.mark.slow
def test_a_frozen_module_nobody_named_raises_import_error(module: Path) -> None:
    (ntpath, runpy) = _upstream_headers(module, ["ntpath", "runpy"])
    assert ntpath["x-import-result"] == "ImportError: No module named 'ntpath'"
    assert runpy["x-import-result"] == "ImportError: No module named 'runpy'"


@pytest.mark.slow
def test_the_build_reports_the_dead_frozen_objects_it_dropped(module: Path) -> None:
    metadata = stamp.read_stamp(module.read_bytes())
    assert metadata is not None
    summary = str(metadata["deepfreeze"])
    objects, _, rest = summary.partition(" deep-frozen objects, ")
    assert int(objects) > 500 and int(rest.split(" bytes")[0]) > 100_000
