"""Exercises most of the host model, so source and compiled modes can be compared on it:
bodies held and rewritten, shared data with CAS, metrics, properties, log levels, print,
the access-log phase, and a request answered from on_request_body."""

from proxy_wasm import (Action, HttpContext, RootContext, log, metrics, properties, register,
                        shared_data)


def bump(key: str) -> int:
    while True:
        value, cas = shared_data.get(key)
        count = int(value or b"0") + 1
        if shared_data.set(key, str(count).encode(), cas):
            return count


class Root(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        # Not at module level: that runs at build time, with no proxy to define it in.
        self.requests = metrics.Counter("busy_requests")
        return True


class Busy(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.root.requests.increment()
        count = bump("seen")
        self.request_headers.set("x-seen", str(count))
        self.request_headers.remove("x-secret")
        log.debug("debug lines are under the default level")
        print(f"print says {properties.request_path()} {properties.request_method()}")
        return Action.CONTINUE

    def on_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not end_of_stream:
            return Action.PAUSE  # hold until the whole body is there
        body = self.get_request_body()
        if b"forbidden" in body:
            self.send_local_response(400, "no forbidden words\n", headers=[("x-why", "body")])
            return Action.PAUSE
        self.set_request_body(body.upper())
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.set("x-requests", str(self.root.requests.value))
        self.response_headers.remove("content-length")
        return Action.CONTINUE

    def on_response_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not end_of_stream:
            return Action.PAUSE  # buffer the whole response body
        self.set_response_body(b"[" + self.get_response_body() + b"]")
        return Action.CONTINUE

    def on_log(self) -> None:
        log.warn(f"access log: {properties.response_code()} {self.request_headers.get(':path')}")


register(Busy, root=Root)
