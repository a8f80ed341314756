"""shared_counter: number every request across all worker VMs.

Each worker VM has its own Python interpreter, so a module-level counter would count per
worker.  Shared data is process-wide: read the counter with its CAS version, write it back
with that version, and retry when another worker wrote in between.  The number goes to the
upstream and back to the client as ``x-request-number``.
"""

from proxy_wasm import Action, HttpContext, RootContext, log, register, shared_data

KEY = "shared_counter.requests"
MAX_ATTEMPTS = 64


class CounterRoot(RootContext):
    def on_configure(self, configuration: bytes) -> bool:
        if shared_data.get(KEY)[0] is None:
            shared_data.set(KEY, b"0")  # every worker may do this; all write the same start
        return True


def next_number() -> int:
    """Increment the shared counter; compare-and-swap, retried on conflicts."""
    for _ in range(MAX_ATTEMPTS):
        value, cas = shared_data.get(KEY)
        number = int(value or b"0") + 1
        if shared_data.set(KEY, str(number).encode(), cas):
            return number
    raise RuntimeError(f"{KEY}: {MAX_ATTEMPTS} CAS conflicts in a row")


class Counter(HttpContext):
    number = 0

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.number = next_number()
        self.request_headers.set("x-request-number", str(self.number))
        log.info(f"request number {self.number}")
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.set("x-request-number", str(self.number))
        return Action.CONTINUE


register(Counter, root=CounterRoot)
