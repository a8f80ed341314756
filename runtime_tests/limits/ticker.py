"""A root context whose every tick runs away, under a small step budget (runtime_tests/limits)."""
from proxy_wasm import Action, HttpContext, RootContext, register


class Ticker(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        self.set_tick_period_ms(500)
        return True

    def on_tick(self) -> None:
        while True:
            pass


class Passes(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.request_headers.set("x-ticker", "served")
        return Action.CONTINUE


register(Passes, root=Ticker, max_callback_steps=100_000)
