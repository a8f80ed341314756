"""A filter that raises on /boom (request phase) and /late (response phase)."""

from proxy_wasm import Action, HttpContext, log


def explode(where: str) -> None:
    raise ValueError(f"the filter exploded in {where}")


class Raising(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "")
        log.info(f"raising saw {path}")
        if path == "/boom":
            explode("on_request_headers")
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.response_headers.get("x-late") == "boom":
            explode("on_response_headers")
        self.response_headers.set("x-raising", "passed")
        return Action.CONTINUE
