"""Exercises every gRPC host call and callback; each request's path picks one case.  Every
callback logs what it got, and the stream ends with a local reply summarising it, so the
harness, source mode and Envoy (against a grpcio server) can be compared line by line."""

from proxy_wasm import Action, HostCallError, HttpContext, log, register

CLUSTER = "echo"
SERVICE = "test.Echo"


class GrpcFeatures(HttpContext):
    seen: list[str]

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.seen = []
        path = self.request_headers.get(":path", "/")
        timeout = int(self.request_headers.get("x-timeout-ms", "1000"))
        if path == "/call":
            token = self.grpc_call(CLUSTER, SERVICE, "Unary", b"ping",
                                   metadata=[("x-asked", "call")], timeout_ms=timeout)
            log.info(f"call token parity {token % 2}")
        elif path == "/stream":
            token = self.grpc_stream(CLUSTER, SERVICE, "Chat", metadata=[("x-asked", "stream")])
            log.info(f"stream token parity {token % 2}")
            self.grpc_send(token, b"one")
            self.grpc_send(token, b"two", end_stream=True)
        elif path == "/unknown-cluster":
            try:
                self.grpc_call("no-such-cluster", SERVICE, "Unary", b"ping")
            except HostCallError as error:
                self.send_local_response(200, f"refused: status {error.args[1]}\n")
                return Action.PAUSE
        elif path == "/send-to-a-call":
            token = self.grpc_call(CLUSTER, SERVICE, "Unary", b"ping", timeout_ms=timeout)
            try:
                self.grpc_send(token, b"more")
            except HostCallError as error:
                log.info(f"send on a call: status {error.args[1]}")
        return Action.PAUSE

    def on_grpc_receive_initial_metadata(self, token: int,
                                         metadata: list[tuple[str, str]]) -> None:
        self.seen.append(f"initial x-init={dict(metadata).get('x-init')}")

    def on_grpc_receive(self, token: int, message: bytes) -> None:
        self.seen.append(f"message {message.decode()}")
        if self.request_headers_path() in ("/call", "/send-to-a-call"):
            self.finish()

    def on_grpc_receive_trailing_metadata(self, token: int,
                                          metadata: list[tuple[str, str]]) -> None:
        self.seen.append(f"trailing x-trail={dict(metadata).get('x-trail')}")

    def on_grpc_close(self, token: int, status: int, message: str) -> None:
        self.seen.append(f"close {status} {message}")
        self.finish()

    def request_headers_path(self) -> str:
        return self.request_headers.get(":path", "/")

    def finish(self) -> None:
        for line in self.seen:
            log.info(line)
        self.send_local_response(200, "\n".join(self.seen) + "\n")


register(GrpcFeatures)
