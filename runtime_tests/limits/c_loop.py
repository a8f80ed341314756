"""A filter that loops inside C code on some paths, under a small step budget
(runtime_tests/test_source_c_loops.py)."""
import itertools
import time

from proxy_wasm import Action, HttpContext, register


def burn_cpu_in_c(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU time, nearly all of it inside C."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(100_000))


class CLoop(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "")
        if path == "/sum":
            sum(range(10**12))
        if path == "/max":
            max(itertools.count())
        if path == "/any":
            any(iter(int, 1))
        if path.startswith("/cpu-ms/"):  # within the budget
            burn_cpu_in_c(int(path[len("/cpu-ms/"):]) / 1000)
        if path.startswith("/debugger/"):
            time.sleep(0)  # a debugger stops here (the tests' tracer waits on this line)
        if path.startswith("/breakpoint/"):  # then the user runs something long in C
            breakpoint(0)
            burn_cpu_in_c(int(path[len("/breakpoint/"):]) / 1000)
        self.request_headers.set("x-c-loop", "passed")
        return Action.CONTINUE


register(CLoop, max_callback_steps=1_000_000)
