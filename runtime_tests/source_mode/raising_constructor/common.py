"""A filter whose constructor raises for every second stream (a per-VM count)."""

from proxy_wasm import Action, HttpContext, RootContext, log


class Counting(RootContext):
    streams = 0


class Fragile(HttpContext):
    def __init__(self, context_id: int, root: Counting) -> None:
        super().__init__(context_id, root)
        root.streams += 1
        if root.streams % 2 == 0:
            raise RuntimeError(f"constructor refused stream {root.streams}")
        self.number = root.streams

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        log.info(f"stream {self.number} answered")
        self.response_headers.set("x-stream", str(self.number))
        return Action.CONTINUE
