"""A filter that misbehaves on demand, for the dispatch parity test (test_dispatch_parity.py).

The root context's misdeeds come from the plugin configuration (a word per misdeed), the
stream's from the request path.  Every callback the filter defines logs that it ran, so the
log shows which callbacks reached Python and in which order contexts came and went.  The
stream class leaves the body and trailers callbacks undefined: the runtime answers them.
"""

from proxy_wasm import Action, BufferType, HttpContext, LimitExceeded, RootContext, log
from proxy_wasm import _hostcalls

#: the plugin configuration, read directly: the root's constructor runs before on_configure
_CONFIG_READ_LIMIT = 4096


def _plugin_config() -> str:
    data = _hostcalls.abi.get_buffer(int(BufferType.PLUGIN_CONFIGURATION), 0,
                                     _CONFIG_READ_LIMIT)
    return (data or b"").decode()


class EdgeRoot(RootContext):
    def __init__(self, context_id: int) -> None:
        super().__init__(context_id)
        self.misdeeds = _plugin_config().split()
        self.streams = 0
        log.info(f"root {context_id} created")
        if "root-init" in self.misdeeds:
            raise RuntimeError("root constructor refused")

    def on_vm_start(self, vm_configuration: bytes) -> bool:
        log.info("on_vm_start ran")
        if "vm-start" in self.misdeeds:
            raise RuntimeError("on_vm_start refused")
        return True

    def on_configure(self, configuration: bytes) -> bool:
        log.info("on_configure ran")
        if "configure" in self.misdeeds:
            raise RuntimeError("on_configure refused")
        if "tick" in self.misdeeds or "exit" in self.misdeeds:
            self.set_tick_period_ms(1000)
        return "configure-false" not in self.misdeeds

    def on_tick(self) -> None:
        log.info("on_tick ran")
        if "exit" in self.misdeeds:  # a BaseException the dispatcher's except misses
            raise SystemExit("on_tick exits")
        raise RuntimeError("on_tick refused")

    def on_done(self) -> bool:
        log.info("root on_done ran")
        if "root-done" in self.misdeeds:
            raise RuntimeError("root on_done refused")
        return True


class Edge(HttpContext[EdgeRoot]):
    def __init__(self, context_id: int, root: EdgeRoot) -> None:
        super().__init__(context_id, root)
        root.streams += 1
        log.info(f"stream {context_id} created")
        if "http-init" in root.misdeeds and root.streams % 2 == 0:
            raise RuntimeError(f"constructor refused stream {context_id}")
        self.path = ""

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.path = self.request_headers.get(":path", "")
        log.info(f"on_request_headers ran on {self.context_id} for {self.path}")
        if self.path == "/raise-request":
            raise ValueError("on_request_headers refused")
        if self.path == "/exit":
            raise SystemExit("on_request_headers exits")
        if self.path == "/wrong-type":
            return "yes"  # type: ignore[return-value]
        if self.path == "/float":
            return 1.5  # type: ignore[return-value]
        if self.path == "/none":
            return None  # type: ignore[return-value]
        if self.path == "/limit":
            while True:  # past the step budget: LimitExceeded, then the policy
                pass
        if self.path == "/trap":
            while True:  # catching LimitExceeded: the VM stops (a trap) after the grace
                try:
                    while True:
                        pass
                except LimitExceeded:
                    pass
        if self.path == "/call":
            self.http_call("authz", [(":method", "GET"), (":path", "/check"),
                                     (":authority", "authz")])
            return Action.PAUSE
        return Action.CONTINUE

    def on_http_call_response(self, token: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        log.info(f"on_http_call_response ran on {self.context_id}")
        raise RuntimeError("on_http_call_response refused")

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        log.info(f"on_response_headers ran on {self.context_id}")
        if self.path == "/raise-response":
            raise ValueError("on_response_headers refused")
        if self.path == "/wrong-type-response":
            return b"no"  # type: ignore[return-value]
        self.response_headers.set("x-edge", str(self.context_id))
        return Action.CONTINUE

    def on_log(self) -> None:
        log.info(f"on_log ran on {self.context_id}")
        if self.path == "/raise-log":
            raise ValueError("on_log refused")

    def on_done(self) -> None:
        log.info(f"on_done ran on {self.context_id}")
        if self.path == "/raise-done":
            raise ValueError("on_done refused")

    def on_delete(self) -> None:
        log.info(f"on_delete ran on {self.context_id}")
        if self.path == "/raise-delete":
            raise ValueError("on_delete refused")
