"""Harness and Envoy give the same verdicts where Envoy surprises: a body refused after the
request headers went on, a stream nothing resumes, trailers both ways.  Each traffic file under
``engine_parity/`` runs against a WAT module in both engines and must pass in each."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness import replay_module
from meshwasm.replay.expect import evaluate
from meshwasm.replay.model import Verdict
from meshwasm.replay.traffic import load_traffic
from tests.harness.wat import LOG_IMPORT, Wat, write

SCENARIOS = Path(__file__).resolve().parent / "engine_parity"
LOCAL_REPLY_IMPORT = ('(import "env" "proxy_send_local_response" (func $reply '
                      '(param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))')
ADD_HEADER_IMPORT = ('(import "env" "proxy_add_header_map_value" (func $add '
                     '(param i32 i32 i32 i32 i32) (result i32)))')
REPLACE_HEADER_IMPORT = ('(import "env" "proxy_replace_header_map_value" (func $replace '
                         '(param i32 i32 i32 i32 i32) (result i32)))')
STARTS = {"proxy_on_vm_start": "(i32.const 1) <value>",
          "proxy_on_configure": "(i32.const 1) <value>"}


def reject_body() -> bytes:
    """Continues the request headers; answers 413 from the first body callback."""
    w = Wat()
    ptr, size = w.string("too big\n")
    reply = (f"(drop (call $reply (i32.const 413) (i32.const 0) (i32.const 0) (i32.const {ptr}) "
             f"(i32.const {size}) (i32.const 0) (i32.const 0) (i32.const -1)))")
    return w.module(STARTS | {"proxy_on_request_body": reply + "(i32.const 1) <value>"},
                    imports=(LOG_IMPORT, LOCAL_REPLY_IMPORT))


def stall() -> bytes:
    """Pauses every request in on_request_headers; nothing resumes it.  Logs each callback
    and sets ``server: filter`` on the response (Envoy overwrites it)."""
    w = Wat()
    callbacks = _logging_callbacks(w)
    callbacks["proxy_on_request_headers"] += "(i32.const 1) <value>"
    key, value = w.string("server"), w.string("filter")
    callbacks["proxy_on_response_headers"] += (
        f"(drop (call $replace (i32.const 2) (i32.const {key[0]}) (i32.const {key[1]}) "
        f"(i32.const {value[0]}) (i32.const {value[1]})))")
    return w.module(STARTS | callbacks, imports=(LOG_IMPORT, REPLACE_HEADER_IMPORT))


def _logging_callbacks(w: Wat) -> dict[str, str]:
    """Callbacks that log their name and end_of_stream, and the trailers callbacks' names."""
    callbacks = {}
    for name in ("request_headers", "request_body", "response_headers", "response_body"):
        callbacks[f"proxy_on_{name}"] = (f"(if (local.get $p2) (then {w.say(name + ' eos=1')}) "
                                         f"(else {w.say(name + ' eos=0')}))")
    for side in ("request", "response"):
        callbacks[f"proxy_on_{side}_trailers"] = w.say(f"{side}_trailers")
    return callbacks


def trailers() -> bytes:
    """Logs each stream callback (with end_of_stream); adds ``x-filter-t`` to the request
    trailers (``request``) and to the response trailers (``response``)."""
    w = Wat()
    callbacks = _logging_callbacks(w)
    for map_type, side in ((1, "request"), (3, "response")):
        key, value = w.string("x-filter-t"), w.string(side)
        callbacks[f"proxy_on_{side}_trailers"] += (
            f"(drop (call $add (i32.const {map_type}) (i32.const {key[0]}) (i32.const {key[1]})"
            f" (i32.const {value[0]}) (i32.const {value[1]})))")
    return w.module(STARTS | callbacks, imports=(LOG_IMPORT, ADD_HEADER_IMPORT))


MODULES = {"body_rejected.yaml": reject_body, "stalled.yaml": stall, "trailers.yaml": trailers}


def _replay(engine: str, scenario: str, tmp_path: Path) -> list[Verdict]:
    module = write(tmp_path, MODULES[scenario]())
    traffic = load_traffic(SCENARIOS / scenario)
    verdicts = (replay_in_envoy if engine == "envoy" else replay_module)(module, traffic)
    outcomes = evaluate(traffic, verdicts)
    assert [outcome.mismatches for outcome in outcomes if not outcome.ok] == [], engine
    return verdicts


def _stall_facts(verdicts: list[Verdict]) -> None:
    """While the request headers are paused no body or trailers callback runs; the local
    reply at the timeout goes through the response callbacks (to gRPC: trailers-only, no
    body); ``server`` is Envoy's whatever the filter set."""
    plain, grpc = verdicts
    assert [line.message for line in plain.logs] == [
        "request_headers eos=0", "response_headers eos=0", "response_body eos=1"]
    assert [line.message for line in grpc.logs] == [
        "request_headers eos=0", "response_headers eos=1"]
    assert plain.header("server") == grpc.header("server") == "envoy"


@pytest.mark.parametrize("scenario", sorted(MODULES))
def test_harness(scenario: str, tmp_path: Path) -> None:
    verdicts = _replay("harness", scenario, tmp_path)
    if scenario == "stalled.yaml":
        assert verdicts[0].elapsed_ms == 300_000  # Envoy's default stream idle timeout
        assert "nothing resumed it" in verdicts[0].notes[0]
        _stall_facts(verdicts)
    if scenario == "body_rejected.yaml":
        assert verdicts[2].upstream_request is None  # refused at once, nothing pooled


@pytest.mark.envoy
@pytest.mark.parametrize("scenario", sorted(MODULES))
def test_envoy_agrees(scenario: str, tmp_path: Path) -> None:
    verdicts = _replay("envoy", scenario, tmp_path)
    if scenario == "stalled.yaml":
        assert "stream idle timeout" in verdicts[0].notes[0]
        _stall_facts(verdicts)
