"""A fail-open filter that runs away on one path (runtime_tests/limits)."""
from proxy_wasm import Action, HttpContext, register


class Spins(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        if self.request_headers.get(":path", "") == "/loop":
            while True:
                pass
        self.request_headers.set("x-spins", "passed")
        return Action.CONTINUE


register(Spins, fail_open=True, max_callback_steps=50_000)
