"""grpc_authz: an ext_authz-style filter asking ``envoy.service.auth.v3.Authorization/Check``
over gRPC before letting a request through.

``on_request_headers`` sends a ``CheckRequest`` (method, path, host and the request's
``authorization`` header) to the ``authz`` cluster with ``grpc_call`` and pauses the stream.
The answer comes to the stream that asked:

- ``on_grpc_receive``: a ``CheckResponse``; status code 0 resumes the request (with
  ``x-authz: allowed`` for the upstream), any other is a local 403 with the denied body;
- ``on_grpc_close``: the call failed (the server's error status, the deadline of
  ``TIMEOUT_MS`` expired, the upstream reset): 403, as Envoy's ext_authz does on error by
  default, with the gRPC status in the log and in ``x-authz-grpc-status``.
"""

from authz_proto import check_request, check_response
from proxy_wasm import Action, HttpContext, log, register
from proxy_wasm.grpc import GrpcStatus

CLUSTER = "authz"
SERVICE = "envoy.service.auth.v3.Authorization"
TIMEOUT_MS = 200


class GrpcAuthz(HttpContext):
    waiting = False

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        headers = self.request_headers
        forwarded = [("authorization", value) for value in [headers.get("authorization")]
                     if value is not None]
        request = check_request(headers.get(":method", "GET"), headers.get(":path", "/"),
                                headers.get(":authority", ""), forwarded)
        self.grpc_call(CLUSTER, SERVICE, "Check", request, timeout_ms=TIMEOUT_MS)
        self.waiting = True
        return Action.PAUSE

    def on_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        return Action.PAUSE if self.waiting else Action.CONTINUE

    def on_grpc_receive(self, token: int, message: bytes) -> None:
        self.waiting = False
        code, body = check_response(message)
        if code == GrpcStatus.OK:
            log.info("grpc_authz: allowed")
            self.request_headers.set("x-authz", "allowed")
            self.resume_request()
            return
        log.info(f"grpc_authz: denied (code {code})")
        self.send_local_response(403, body or b"denied\n", details="ext_authz_denied")

    def on_grpc_close(self, token: int, status: int, message: str) -> None:
        self.waiting = False
        log.warn(f"grpc_authz: Check failed: status {status} ({message})")
        self.send_local_response(403, b"authorization unavailable\n",
                                 headers=[("x-authz-grpc-status", str(status))],
                                 details="ext_authz_error")


register(GrpcAuthz)
