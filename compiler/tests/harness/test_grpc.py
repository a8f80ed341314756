"""The harness's gRPC model (harness/grpc.py) where Envoy cannot be scripted by the grpcio
server, or where only the harness decides: cancel, close, reset, a call with no message,
what a traffic file's ``grpc`` section refuses.  Run in source mode (the same host model the
compiled engine uses; runtime_tests/test_grpc.py compares both with Envoy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.harness.source import replay_source
from meshwasm.replay.model import Verdict
from meshwasm.replay.traffic import TrafficError, parse_traffic

FILTER = '''
from proxy_wasm import Action, HttpContext, log, register

class Probe(HttpContext):
    def on_request_headers(self, num_headers, end_of_stream):
        path = self.path = self.request_headers.get(":path", "/")
        if path == "/stream-close":
            token = self.grpc_stream("echo", "test.Echo", "Chat")
            self.grpc_send(token, b"x")
            self.grpc_close(token)  # half-close: the server answers then
        elif path == "/cancel":
            token = self.grpc_call("echo", "test.Echo", "Unary", b"x")
            self.grpc_cancel(token)
            self.send_local_response(200, b"cancelled\\n")
        elif path == "/cancel-twice":
            token = self.grpc_call("echo", "test.Echo", "Unary", b"x")
            self.grpc_cancel(token)
            try:
                self.grpc_cancel(token)
            except Exception as error:
                self.send_local_response(200, f"second cancel: {error.args[1]}\\n")
        else:
            self.grpc_call("echo", "test.Echo", "Unary", b"x", timeout_ms=0)
        return Action.PAUSE

    def on_grpc_receive(self, token, message):
        if self.path == "/stream-close":  # a stream: the close comes next
            log.info(f"message {message.decode()}")
            return
        self.send_local_response(200, b"message " + message + b"\\n")

    def on_grpc_close(self, token, status, message):
        self.send_local_response(200, f"close {status} {message}\\n")

register(Probe)
'''


def _replay(tmp_path: Path, grpc_yaml: str, path: str) -> Verdict:
    (tmp_path / "probe.py").write_text(FILTER)
    traffic = parse_traffic(f"grpc:\n  echo:\n{grpc_yaml}requests:\n"
                            f"  - name: r\n    request: {{path: {path}}}\n", "t.yaml")
    [verdict] = replay_source(tmp_path / "probe.py", traffic)
    return verdict


def test_a_closed_stream_gets_the_server_answer(tmp_path: Path) -> None:
    verdict = _replay(tmp_path, "    test.Echo/Chat: {messages: [{text: hi}], status: 0}\n",
                      "/stream-close")
    assert verdict.body == b"close 0 via_upstream\n"
    assert "message hi" in [line.message for line in verdict.logs]


def test_a_cancelled_call_gets_no_callback(tmp_path: Path) -> None:
    verdict = _replay(tmp_path, "    test.Echo/Unary: {messages: [{text: hi}]}\n", "/cancel")
    assert verdict.body == b"cancelled\n"
    assert not [line for line in verdict.logs if "raised" in line.message]


def test_cancelling_an_unknown_token_is_not_found(tmp_path: Path) -> None:
    verdict = _replay(tmp_path, "    test.Echo/Unary: {messages: [{text: hi}]}\n",
                      "/cancel-twice")
    assert verdict.body == b"second cancel: 1\n"


def test_a_reset_closes_the_call_unavailable(tmp_path: Path) -> None:
    verdict = _replay(tmp_path, "    test.Echo/Unary: {reset: true, delay_ms: 50}\n", "/call")
    assert verdict.body.startswith(b"close 14 upstream connect error")
    assert verdict.elapsed_ms == 50


def test_an_ok_answer_without_a_message_is_internal(tmp_path: Path) -> None:
    verdict = _replay(tmp_path, "    test.Echo/Unary: {status: 0}\n", "/call")
    assert verdict.body == b"close 13 No response message\n"


def test_an_unscripted_method_is_unimplemented(tmp_path: Path) -> None:
    verdict = _replay(tmp_path, "    test.Echo/Other: {messages: [{text: hi}]}\n", "/call")
    assert verdict.body == b"close 12 Method not found{via_upstream}\n"


@pytest.mark.parametrize(("grpc_yaml", "field"), [
    ("    test.Echo/Unary: {messages: [{hex: zz}]}\n", "hex"),
    ("    test.Echo/Unary: {status: 17}\n", "status"),
    ("    NoMethod: {status: 0}\n", "NoMethod"),
    ("    test.Echo/Unary: {messages: [{hex: '00', text: x}]}\n", "messages"),
])
def test_a_bad_grpc_section_names_file_line_and_field(grpc_yaml: str, field: str) -> None:
    with pytest.raises(TrafficError) as error:
        parse_traffic(f"grpc:\n  echo:\n{grpc_yaml}requests:\n  - name: r\n", "t.yaml")
    assert "t.yaml:" in str(error.value)
    assert field in str(error.value)
