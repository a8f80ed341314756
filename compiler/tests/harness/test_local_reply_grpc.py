"""A local reply to a gRPC request, as Envoy 1.40's proxy-wasm host sends it: the filter's
gRPC status only when it is a known code (0..16); none, negative or larger numbers give the
HTTP status's code (measured in Envoy: runtime_tests/fault/test_fault.py pins the fault
filter's cases against it)."""

from __future__ import annotations

import pytest

from meshwasm.harness.context import LocalReply
from meshwasm.harness.envoy_http import local_reply_headers


@pytest.mark.parametrize("grpc_status, expected", [
    (0, b"0"), (16, b"16"),  # known codes pass
    (-1, b"7"), (-2, b"7"), (17, b"7"), (2**31 - 1, b"7"),  # the 403's code, PERMISSION_DENIED
])
def test_only_known_grpc_codes_pass(grpc_status: int, expected: bytes) -> None:
    reply = LocalReply(403, b"no", [], grpc_status, b"")
    headers = local_reply_headers(reply, grpc=True)
    assert headers.get(b"grpc-status") == expected
    assert headers.get(b":status") == b"200"


def test_a_plain_request_ignores_the_grpc_status() -> None:
    headers = local_reply_headers(LocalReply(403, b"no", [], 17, b""), grpc=False)
    assert headers.get(b":status") == b"403" and headers.get(b"grpc-status") is None
