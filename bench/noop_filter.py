"""The cheapest meshwasm filter that runs Python on every request: one callback that only
lets the request go on.  ``bench/lean_runtime.py`` measures it beside the C filter, so a
filter's cost splits into entering Python once per request (this) and the filter's own
Python (the rest)."""

from proxy_wasm import Action, HttpContext, register


class Noop(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        return Action.CONTINUE


register(Noop)
