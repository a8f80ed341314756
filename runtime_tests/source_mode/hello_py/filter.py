"""The raw-ABI C filter of runtime_tests/other_sdk/hello_c.c, written with the SDK: the same
traffic file (hello_c.traffic.yaml) must pass in source mode, compiled, and for the C module."""

from proxy_wasm import Action, HttpContext, RootContext, log, register


class Root(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        return True


class HelloC(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "")
        log.info(f"c filter saw {path}")
        if path == "/deny":
            self.send_local_response(403, b"denied by c filter")
            return Action.PAUSE
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.add("x-c-filter", "on")
        if self.root.configuration:
            self.response_headers.add("x-c-config", self.root.configuration.decode())
        return Action.CONTINUE


register(HelloC, root=Root)
