"""One dispatch semantics (docs/harness-semantics.md, "Dispatch"): the compiled module (its C
glue) and source mode (the SDK's dispatcher in Python) route callbacks, create and drop
contexts and apply the error policy by the same rules.

The filter under ``dispatch_parity/`` misbehaves on demand (its root by plugin configuration,
its streams by path).  Each scenario runs through both engines and compares everything
observable: the start (its log, or the reason the plugin was refused), every verdict (status,
headers, body, log lines with level and text and whether a traceback was logged, notes,
what the upstream saw), every callback the proxy made with its arguments and its answer
(which says which contexts were created and deleted, in which order), and the plugin's stop.
Each case also pins what the rule says, so equal but wrong answers fail too.  Envoy judges the
verdicts of the stream cases (``test_envoy_gives_the_same_verdicts``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meshwasm import abi_table, engines
from meshwasm.builder.pipeline import build_filter
from meshwasm.failure_policy import FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD
from meshwasm.harness.errors import ModuleError
from meshwasm.harness.host import HostOptions
from meshwasm.harness.replay import start_workers
from meshwasm.harness.source import start_source_workers
from meshwasm.harness.stream import PluginRunner
from meshwasm.harness.workers import Workers
from meshwasm.replay.model import LogLine, Traffic, Verdict
from meshwasm.replay.traffic import parse_traffic

from .conftest import RUNTIME_TESTS
from .verdict_compare import TRACEBACK_START, comparable

FOLDER = RUNTIME_TESTS / "dispatch_parity"
VARIANTS = ("fail_closed", "fail_open")
ENGINES = ("harness", "source")

pytestmark = pytest.mark.slow

#: (path, method, body, trailers) of the stream cases; the filter's reaction is in its file
STREAM_CASES = ["/fine", "/raise-request", "/raise-response", "/wrong-type", "/float",
                "/none", "/wrong-type-response", "/raise-log", "/raise-done", "/raise-delete",
                "/exit", "/call", "/body", "/limit"]


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dispatch_parity")
    return {variant: build_filter(FOLDER / f"{variant}.py", out / f"{variant}.wasm").output
            for variant in VARIANTS}


def _request(path: str, at_ms: int = 0) -> str:
    if path == "/body":  # body and trailers: callbacks the filter does not define
        return (f"  - name: '{path}'\n    at: {at_ms}ms\n    request: {{path: '{path}', "
                "method: POST, body: 'abc', trailers: {x-t: '1'}}\n")
    return f"  - name: '{path}'\n    at: {at_ms}ms\n    request: {{path: '{path}'}}\n"


def _traffic(config: str, requests: list[tuple[str, int]]) -> Traffic:
    text = (f"plugin_config: '{config}'\nclusters: {{authz: {{status: 200}}}}\nrequests:\n"
            + "".join(_request(path, at_ms) for path, at_ms in requests))
    return parse_traffic(text, "dispatch_parity.yaml")


@dataclass
class Observed:
    """What one engine showed of one scenario."""

    start: list[tuple[str, str]] | str = field(default_factory=list)  # logs, or refusal
    verdicts: list[dict[str, object]] = field(default_factory=list)
    calls: list[tuple[str, tuple[int, ...], object]] = field(default_factory=list)
    stop: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def callbacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[int, ...],
                                                                   object]]]:
    """Every callback the driver makes into a guest: (name, arguments, answer or 'trap')."""
    calls: list[tuple[str, tuple[int, ...], object]] = []
    original = PluginRunner._call

    def traced(self: PluginRunner, context: Any, name: str, *args: int) -> int | None:
        entry = len(calls)
        calls.append((name, args, "trap"))  # replaced by the answer unless it trapped
        result = original(self, context, name, *args)
        calls[entry] = (name, args, result if name in _ANSWERING else None)
        return result

    monkeypatch.setattr(PluginRunner, "_call", traced)
    yield calls


_TRAP_TEXT = re.compile(r"failed: .*?(?=\); FAIL_RELOAD|\Z)", re.S)
_LABEL = re.compile(r"^\S+\.(wasm|py): ")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")
#: callbacks whose answer means something (the others return nothing)
_ANSWERING = frozenset(callback.name for callback in abi_table.CALLBACKS if callback.returns)


def _note(note: str) -> str:
    """A note without the engine's own words for a trap (wasmtime's backtrace, or source
    mode's reason): that a trap happened, and where, is compared."""
    return _TRAP_TEXT.sub("failed: <trap>", note)


def _verdict(verdict: Verdict) -> dict[str, object]:
    seen = comparable(verdict)
    seen["notes"] = [_note(note) for note in verdict.notes]
    seen["elapsed_ms"] = verdict.elapsed_ms
    return seen


def _lines(lines: list[LogLine]) -> list[tuple[str, str]]:
    """Log lines with each traceback reduced to its first and last line (``comparable``)."""
    return comparable(Verdict(0, [], b"", logs=lines))["logs"]  # type: ignore[return-value]


def _refusal(error: ModuleError) -> str:
    """The reason a plugin was refused, its log lines and each traceback's last line, without
    the engine's label and the frames (source mode quotes source lines)."""
    first, _, log = str(error).partition("\nlog:\n")
    kept = [line for line in (line.strip() for line in log.splitlines())
            if line.startswith("[") or _EXCEPTION_LINE.match(line)]
    return " | ".join([_LABEL.sub("", first), *kept])


def _observe(engine: str, variant: str, modules: dict[str, Path], traffic: Traffic,
             policy: str, calls: list[tuple[str, tuple[int, ...], object]]) -> Observed:
    calls.clear()
    seen = Observed()
    options = HostOptions(failure_policy=policy)
    try:
        workers: Workers = (start_workers(modules[variant], traffic, options)
                            if engine == "harness" else
                            start_source_workers(FOLDER / f"{variant}.py", traffic, options))
    except ModuleError as error:
        seen.start, seen.calls = _refusal(error), list(calls)
        return seen
    seen.start = _lines(list(workers.proxy.log_lines))
    seen.verdicts = [_verdict(workers.run(exchange)) for exchange in traffic.exchanges]
    seen.stop = _lines(workers.stop())
    seen.calls = list(calls)
    return seen


def _both(variant: str, modules: dict[str, Path], traffic: Traffic, policy: str,
          calls: list[tuple[str, tuple[int, ...], object]]) -> Observed:
    """The scenario in both engines; they must agree on everything; the harness's view."""
    harness, source = (_observe(engine, variant, modules, traffic, policy, calls)
                       for engine in ENGINES)
    assert source.start == harness.start
    assert source.calls == harness.calls
    for index, (mine, theirs) in enumerate(zip(source.verdicts, harness.verdicts)):
        assert mine == theirs, traffic.exchanges[index].name
    assert len(source.verdicts) == len(harness.verdicts)
    assert source.stop == harness.stop
    return harness


def _messages(verdict: dict[str, object]) -> list[str]:
    return [message for _, message in verdict["logs"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("variant", VARIANTS)
def test_stream_callbacks_raise_return_wrong_types_or_are_not_defined(
        variant: str, modules: dict[str, Path], callbacks: list[Any]) -> None:
    traffic = _traffic("", [(path, 0) for path in STREAM_CASES])
    seen = _both(variant, modules, traffic, FAIL_CLOSED, callbacks)
    verdicts = dict(zip(STREAM_CASES, seen.verdicts))
    closed = variant == "fail_closed"
    refused = 503 if closed else 200
    for path in ("/raise-request", "/wrong-type", "/float", "/exit", "/limit"):
        assert verdicts[path]["status"] == refused, path
        assert (verdicts[path]["upstream_request"] is None) == closed, path
    for path in ("/raise-response", "/wrong-type-response", "/call"):
        assert verdicts[path]["status"] == refused, path
    for path in ("/fine", "/none", "/raise-log", "/raise-done", "/raise-delete", "/body"):
        assert verdicts[path]["status"] == 200, path
    assert f"{TRACEBACK_START}on_request_headers: ... ValueError: on_request_headers refused" \
        in _messages(verdicts["/raise-request"])
    assert "filter returned 'yes' from on_request_headers, not an Action" \
        in _messages(verdicts["/wrong-type"])
    assert "filter returned b'no' from on_response_headers, not an Action" \
        in _messages(verdicts["/wrong-type-response"])
    assert f"{TRACEBACK_START}on_request_headers: ... SystemExit: on_request_headers exits" \
        in _messages(verdicts["/exit"])
    assert f"{TRACEBACK_START}on_done: ... ValueError: on_done refused" \
        in _messages(verdicts["/raise-done"])
    assert f"{TRACEBACK_START}on_delete: ... ValueError: on_delete refused" \
        in _messages(verdicts["/raise-delete"])
    # An answer that raises in the stream that asked: the policy, and the stream goes on.
    assert f"{TRACEBACK_START}on_http_call_response: ... RuntimeError: on_http_call_response " \
        "refused" in _messages(verdicts["/call"])
    # Callbacks the class does not define never reach Python, in either engine: the body
    # and trailers go through, and only the defined callbacks log.
    body = verdicts["/body"]
    assert body["upstream_request"].body == b"abc"  # type: ignore[attr-defined]
    ran = [message.split(" ran")[0] for message in _messages(body) if " ran on " in message]
    assert ran == ["on_request_headers", "on_response_headers", "on_log", "on_done",
                   "on_delete"]
    # Every stream context is created before its first callback and deleted last.
    names = [name for name, _, _ in seen.calls if name != "proxy_on_http_call_response"]
    streams = [args[0] for name, args, _ in seen.calls
               if name == "proxy_on_context_create" and args[1] != 0]
    assert len(streams) == len(STREAM_CASES)
    for stream in streams:
        own = [name for name, args, _ in seen.calls
               if args and args[0] == stream and name != "proxy_on_http_call_response"]
        assert own[0] == "proxy_on_context_create" and own[-1] == "proxy_on_delete", own
    assert names[-2:] == ["proxy_on_done", "proxy_on_delete"]  # the plugin's stop


@pytest.mark.parametrize("policy", [FAIL_CLOSED, FAIL_RELOAD])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_raising_stream_constructor_logs_once_then_the_policy(
        variant: str, policy: str, modules: dict[str, Path], callbacks: list[Any]) -> None:
    """A raise is no VM failure: the proxy's failure policy (FAIL_RELOAD too) plays no
    part."""
    traffic = _traffic("http-init", [("/a", 0), ("/b", 0), ("/c", 0)])
    first, refused, third = _both(variant, modules, traffic, policy, callbacks).verdicts
    assert first["status"] == third["status"] == 200
    assert refused["status"] == (503 if variant == "fail_closed" else 200)
    assert [message for message in _messages(refused) if "ran" in message] == []
    assert [line for line in refused["logs"] if line[0] == "error"] == [  # type: ignore
        ("error", f"{TRACEBACK_START}HttpContext.__init__: ... RuntimeError: constructor "
                  "refused stream 3")]


@pytest.mark.parametrize("config, refusal", [
    ("root-init", "proxy_on_configure returned false: Envoy rejects the plugin configuration "
                  "| [info] root 1 created | [error] filter raised in context creation: | "
                  "RuntimeError: root constructor refused"),
    ("vm-start", "proxy_on_vm_start returned false: Envoy fails the VM | [info] root 1 "
                 "created | [info] on_vm_start ran | [error] filter raised in on_vm_start: | "
                 "RuntimeError: on_vm_start refused"),
    ("configure", "proxy_on_configure returned false: Envoy rejects the plugin configuration "
                  "| [info] root 1 created | [info] on_vm_start ran | [info] on_configure ran "
                  "| [error] filter raised in on_configure: | RuntimeError: on_configure "
                  "refused"),
    ("configure-false", "proxy_on_configure returned false: Envoy rejects the plugin "
                        "configuration | [info] root 1 created | [info] on_vm_start ran | "
                        "[info] on_configure ran"),
])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_root_that_raises_or_refuses_while_starting_is_refused_alike(
        variant: str, config: str, refusal: str, modules: dict[str, Path],
        callbacks: list[Any]) -> None:
    seen = _both(variant, modules, _traffic(config, [("/a", 0)]), FAIL_CLOSED, callbacks)
    assert seen.start == refusal


@pytest.mark.parametrize("config, error", [("tick", "RuntimeError: on_tick refused"),
                                           ("exit", "SystemExit: on_tick exits")])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_raising_tick_is_logged_and_the_vm_goes_on(
        variant: str, config: str, error: str, modules: dict[str, Path],
        callbacks: list[Any]) -> None:
    traffic = _traffic(config, [("/a", 0), ("/b", 2500)])
    first, later = _both(variant, modules, traffic, FAIL_CLOSED, callbacks).verdicts
    assert first["status"] == later["status"] == 200
    ticks = [line for line in later["logs"] if "on_tick" in line[1]]  # type: ignore
    assert ticks == [("info", "on_tick ran"),
                     ("error", f"{TRACEBACK_START}on_tick: ... {error}")] * 2


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_raising_root_on_done_is_logged_and_the_plugin_stops(
        variant: str, modules: dict[str, Path], callbacks: list[Any]) -> None:
    seen = _both(variant, modules, _traffic("root-done", [("/a", 0)]), FAIL_CLOSED,
                 callbacks)
    assert seen.stop == [("info", "root on_done ran"),
                         ("error", f"{TRACEBACK_START}RootContext.on_done: ... RuntimeError: "
                                   "root on_done refused")]
    assert seen.calls[-2:] == [("proxy_on_done", (1,), 1), ("proxy_on_delete", (1,), None)]


@pytest.mark.parametrize("policy, after", [(FAIL_CLOSED, [503, 503]), (FAIL_OPEN, [200, 200]),
                                           (FAIL_RELOAD, [503, 200])])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_trap_fails_the_vm_and_the_proxy_policy_decides(
        variant: str, policy: str, after: list[int], modules: dict[str, Path],
        callbacks: list[Any]) -> None:
    traffic = _traffic("", [("/trap", 0), ("/fine", 10), ("/fine", 5000)])
    trapped, *rest = _both(variant, modules, traffic, policy, callbacks).verdicts
    assert trapped["status"] == 503  # a trap is no exception: the filter's fail_open is moot
    assert trapped["notes"] == ["Function: proxy_on_request_headers failed: <trap>"]
    assert [verdict["status"] for verdict in rest] == after


def test_envoy_gives_the_same_verdicts(modules: dict[str, Path]) -> None:
    """Envoy judges what the client and the upstream see (bounded: one Envoy, a few
    requests)."""
    paths = ["/fine", "/raise-request", "/wrong-type", "/raise-response", "/raise-done",
             "/body"]
    traffic = _traffic("", [(path, 0) for path in paths])
    module = modules["fail_closed"]
    harness = engines.get("harness").replay(module, traffic)
    envoy = engines.get("envoy").replay(module, traffic)
    for path, mine, theirs in zip(paths, harness, envoy):
        assert (mine.status, mine.body, mine.header("x-edge")) == \
            (theirs.status, theirs.body, theirs.header("x-edge")), path
        assert (mine.upstream_request is None) == (theirs.upstream_request is None), path


test_envoy_gives_the_same_verdicts = pytest.mark.envoy(test_envoy_gives_the_same_verdicts)
