from collections import namedtuple
from proxy_wasm import Action, HttpContext, register

Point = namedtuple("Point", "x y")  # namedtuple compiles code: fine at build time

class Evaluates(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.request_headers.get(":path") == "/eval":
            eval("1 + 1")
        self.request_headers.set("x-point", repr(Point(1, 2)))
        return Action.CONTINUE

register(Evaluates, error_status=500)
