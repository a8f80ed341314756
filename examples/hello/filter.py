"""hello: the smallest useful filter.

- every response gets ``x-hello: world``;
- requests for ``/admin`` (and below it) are answered locally with 403;
- the plugin configuration is echoed in ``x-hello-config``, to show how it reaches a filter.
"""

from proxy_wasm import Action, HttpContext, log, register

DENIED_PREFIX = "/admin"
DENIED_SUBTREE = DENIED_PREFIX + "/"


class Hello(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "")
        log.info(f"hello saw {path}")
        if path == DENIED_PREFIX or path.startswith(DENIED_SUBTREE):
            self.send_local_response(403, b"forbidden by hello\n",
                                     headers=[("x-denied-by", "hello")])
            return Action.PAUSE
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.set("x-hello", "world")
        configuration = self.root.configuration.decode("utf-8", "replace")
        if configuration:
            self.response_headers.set("x-hello-config", configuration)
        return Action.CONTINUE


register(Hello)
