"""Source mode without building anything: loading, isolation, errors, stdio, the CLI."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshwasm.cli import main
from meshwasm.harness.errors import ModuleError
from meshwasm.harness.source import SourcePlugin, replay_source
from meshwasm.replay.model import Exchange, Expectation, HttpRequest, UpstreamResponse
from meshwasm.replay.traffic import parse_traffic

PROJECT = Path(__file__).resolve().parents[3]

COUNTER = """
    from proxy_wasm import Action, HttpContext, register, shared_data
    from helper import SEEN

    class Counting(HttpContext):
        def on_request_headers(self, num_headers, end_of_stream):
            SEEN.append(1)
            value, cas = shared_data.get("n")
            shared_data.set("n", str(int(value or b"0") + 1).encode(), cas)
            print("counted", len(SEEN), "then", shared_data.get("n")[0].decode())
            print("to stderr", file=sys.stderr)
            return Action.CONTINUE

    import sys
    register(Counting)
"""


def _exchange(path: str = "/", headers: list[tuple[str, str]] | None = None) -> Exchange:
    return Exchange(path, HttpRequest(path=path, headers=headers or []), UpstreamResponse(),
                    Expectation())


def _filter(folder: Path, source: str, name: str = "filter.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    (tmp_path / "helper.py").write_text("SEEN = []\n")
    return _filter(tmp_path, COUNTER)


def test_two_plugins_share_no_module_state_and_leave_sys_modules_alone(counter: Path) -> None:
    before = {name: module for name, module in sys.modules.items()
              if name.partition(".")[0] in ("proxy_wasm", "filter", "helper")}
    first, second = SourcePlugin(counter, b""), SourcePlugin(counter, b"")
    messages = [[line.message for line in first.run(_exchange()).logs] for _ in range(2)]
    assert messages == [["counted 1 then 1", "to stderr"], ["counted 2 then 2", "to stderr"]]
    assert [line.level for line in first.run(_exchange()).logs] == ["info", "error"]
    assert [line.message for line in second.run(_exchange()).logs][0] == "counted 1 then 1"
    after = {name: module for name, module in sys.modules.items()
             if name.partition(".")[0] in ("proxy_wasm", "filter", "helper")}
    assert after == before
    assert first.guest.dispatch is not second.guest.dispatch


def test_import_errors_and_missing_register_name_the_file_and_line(tmp_path: Path) -> None:
    broken = _filter(tmp_path, "import proxy_wasm\n\nraise KeyError('at import')\n", "broken.py")
    with pytest.raises(ModuleError) as error:
        SourcePlugin(broken, b"")
    assert f'File "{broken}", line 3, in <module>' in str(error.value)
    assert "KeyError: 'at import'" in str(error.value)

    unregistered = _filter(tmp_path, "import proxy_wasm\n", "unregistered.py")
    with pytest.raises(ModuleError, match="did not call proxy_wasm.register"):
        SourcePlugin(unregistered, b"")
    with pytest.raises(ModuleError, match="no such filter file"):
        SourcePlugin(tmp_path / "absent.py", b"")


def test_header_bytes_that_are_not_utf8_survive_the_round_trip(tmp_path: Path) -> None:
    echo = _filter(tmp_path, """
        from proxy_wasm import Action, HttpContext, log, register

        class Echo(HttpContext):
            def on_request_headers(self, num_headers, end_of_stream):
                raw = b"caf\\xe9".decode("utf-8", "surrogateescape")
                self.request_headers.set("x-raw", raw)
                log.info(repr(self.request_headers.get("x-raw")))
                return Action.CONTINUE

        register(Echo)
    """)
    verdict = SourcePlugin(echo, b"").run(_exchange())
    assert [line.message for line in verdict.logs] == ["'caf\\udce9'"]


def test_replay_source_and_the_cli_run_examples_hello() -> None:
    hello = PROJECT / "examples" / "hello"
    traffic = parse_traffic((hello / "traffic.yaml").read_text(), path=hello / "traffic.yaml")
    verdicts = replay_source(hello / "filter.py", traffic)
    assert [v.status for v in verdicts] == [200, 403, 403, 404]
    result = CliRunner().invoke(main, ["replay", "--engine", "source",
                                       str(hello / "filter.py"), str(hello / "traffic.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "4 requests: 4 as expected, 0 not (engine: source)"


def test_cli_source_engine_reports_an_unloadable_filter(tmp_path: Path) -> None:
    bad = _filter(tmp_path, "def broken(:\n")
    traffic = PROJECT / "examples" / "hello" / "traffic.yaml"
    result = CliRunner().invoke(main, ["replay", "--engine", "source", str(bad), str(traffic)])
    assert result.exit_code == 2
    assert "importing the filter failed" in result.output and "SyntaxError" in result.output
