"""The pytest plugin, driven through inner pytest runs (``pytester``)."""

from __future__ import annotations

import os
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

# Imported here, before any inner run: pytester's in-process runs drop the modules they
# imported, and a second import of yaml would mix two copies of its classes.
import meshwasm.builder.pipeline  # noqa: F401
import meshwasm.harness.source  # noqa: F401
import meshwasm.replay.traffic  # noqa: F401
from meshwasm.builder.toolchain import cache_root

_HOME = os.environ.get("HOME")  # read at import, before pytester replaces it
_CACHE = cache_root()
PROJECT = Path(__file__).resolve().parents[3]
HELLO = PROJECT / "examples" / "hello"
EDITED = """
requests:
  - name: passes
    request:
      path: /ok
    expect:
      status: 200
  - name: expects the wrong status
    request:
      path: /admin
      headers:
        x-user: eve
    expect:
      status: 401
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner pytest run in this process, without its own faulthandler: enabling and then
    disabling it there would put back the crash handlers from before wasmtime installed its
    own, and the next Wasm trap in this process would kill it with SIGILL."""
    return pytester.runpytest_inprocess("-p", "no:faulthandler", *args)


@pytest.fixture
def hello_folder(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    # pytester gives the inner run its own HOME: keep the toolchain, module and wasmtime
    # caches of the real one.
    monkeypatch.setenv("MESHWASM_CACHE", str(_CACHE))
    if _HOME is not None:
        monkeypatch.setenv("HOME", _HOME)
    folder = pytester.mkdir("hello")
    shutil.copy(HELLO / "filter.py", folder / "filter.py")
    shutil.copy(HELLO / "traffic.yaml", folder / "traffic.yaml")
    return folder


def test_the_plugin_is_registered_through_pytest11() -> None:
    names = {entry.value for entry in entry_points(group="pytest11")}
    assert "meshwasm.pytest_plugin" in names


def test_traffic_files_are_not_collected_unless_asked(pytester: pytest.Pytester,
                                                      hello_folder: Path) -> None:
    result = _run(pytester, "-q")
    result.assert_outcomes()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_one_item_per_request_named_after_it(pytester: pytest.Pytester,
                                             hello_folder: Path) -> None:
    result = _run(pytester, "--meshwasm-traffic", "--meshwasm-engine", "source",
                                          "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        "*hello/traffic.yaml::a normal request reaches the upstream and gets the hello headers "
        "PASSED*",
        "*hello/traffic.yaml::/admin is denied locally with 403 PASSED*"])


def test_a_failure_shows_the_request_the_expectation_and_what_happened(
        pytester: pytest.Pytester, hello_folder: Path) -> None:
    shutil.copy(HELLO / "filter.py", hello_folder / "edited.py")
    (hello_folder / "edited.traffic.yaml").write_text(EDITED)
    (hello_folder / "traffic.yaml").unlink()
    pytester.makeini("[pytest]\nmeshwasm_traffic = true\nmeshwasm_engine = source\n")
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*request #2 (*edited.traffic.yaml:8), engine source:",
        "  GET /admin  (authority example.com)",
        "  x-user: eve",
        "*expects the wrong status*",
        "*status",
        "*- expected 401",
        "*+ actual   403",
    ])


def test_a_traffic_file_without_a_filter_is_a_collection_error(
        pytester: pytest.Pytester) -> None:
    (pytester.path / "lonely.traffic.yaml").write_text(EDITED)
    result = _run(pytester, "--meshwasm-traffic")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lonely.traffic.yaml: no filter to replay it against*"])


def test_the_plugin_fixture_drives_a_filter_from_python(pytester: pytest.Pytester,
                                                        hello_folder: Path) -> None:
    pytester.makepyfile(test_driver=f"""
        def test_hello(meshwasm_plugin):
            plugin = meshwasm_plugin({str(hello_folder / "filter.py")!r}, "cfg",
                                     engine="source")
            verdict = plugin.request("/products", headers={{"user-agent": "t"}},
                                     upstream_body="list")
            assert (verdict.status, verdict.body) == (200, b"list")
            assert verdict.header("x-hello-config") == "cfg"
            assert [line.message for line in verdict.logs] == ["hello saw /products"]
            denied = plugin.request("/admin")
            assert denied.status == 403 and denied.upstream_request is None
            assert plugin.metrics() == {{}}
    """)
    _run(pytester).assert_outcomes(passed=1)


def test_the_plugin_fixture_takes_a_mapping_as_istio_sends_it(pytester: pytest.Pytester,
                                                              hello_folder: Path) -> None:
    (hello_folder / "config.yaml").write_text("greeting: hi\n")
    pytester.makepyfile(test_config=f"""
        import warnings
        from pathlib import Path

        import pytest

        FILTER = {str(hello_folder / "filter.py")!r}

        @pytest.mark.parametrize("config, sent", [
            ({{"greeting": "hi", "n": [1]}}, '{{"greeting":"hi","n":[1]}}'),
            ("greeting: hi", "greeting: hi"),
            (b"raw", "raw"),
            (Path({str(hello_folder / "config.yaml")!r}), '{{"greeting":"hi"}}'),
        ])
        def test_config(meshwasm_plugin, config, sent):
            plugin = meshwasm_plugin(FILTER, config, engine="source")
            assert plugin.request("/").header("x-hello-config") == sent

        def test_no_config(meshwasm_plugin):
            plugin = meshwasm_plugin(FILTER, engine="source")
            assert plugin.request("/").header("x-hello-config") is None

        def test_unknown_engine(meshwasm_plugin):
            with pytest.raises(ValueError, match="expected one of harness, source, envoy"):
                meshwasm_plugin(FILTER, engine="wasmtime")
    """)
    _run(pytester).assert_outcomes(passed=6)


@pytest.mark.slow
def test_compiled_is_the_default_engine_and_builds_once(pytester: pytest.Pytester,
                                                        hello_folder: Path) -> None:
    pytester.makepyfile(test_build=f"""
        def test_build(meshwasm_build):
            first = meshwasm_build({str(hello_folder / "filter.py")!r})
            assert first.read_bytes()[:4] == b"\\0asm"
            assert meshwasm_build({str(hello_folder / "filter.py")!r}) == first
    """)
    result = _run(pytester, "--meshwasm-traffic", "-v")
    result.assert_outcomes(passed=5)


def test_engine_names_are_the_clis_and_the_old_one_still_works(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_engine="""
        def test_engine(request):
            from meshwasm.pytest_plugin import _SESSION
            print("ENGINE=" + request.config.stash[_SESSION].engine)
    """)
    for given, meant in (("harness", "harness"), ("compiled", "harness"), ("source", "source")):
        result = _run(pytester, "-s", "--meshwasm-engine", given)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"*ENGINE={meant}*"])
        renamed = "*meshwasm engine 'compiled' is now called 'harness'*"
        if given == "compiled":
            result.stdout.fnmatch_lines([renamed])
        else:
            result.stdout.no_fnmatch_line(renamed)
    result = _run(pytester, "--meshwasm-engine", "wasmtime")
    assert result.ret != 0
