"""A filter that runs inside C code on some paths, under a small step budget
(runtime_tests/test_source_c_loops.py: source mode's watchdog; c_loops.py is
the built module's counterpart)."""
import itertools
import os
import time

from proxy_wasm import Action, HttpContext, register


def _number(path: str) -> int:
    return int(path.rpartition("/")[2])


class CLoop(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "")
        if path == "/sum":  # never returns, and never runs a Python instruction meanwhile
            sum(range(10**12))
        if path == "/max":
            max(itertools.count())
        if path.startswith("/cpu-ms/"):  # within the budget: short C calls
            end = time.thread_time() + _number(path) / 1000
            while time.thread_time() < end:
                sum(range(10_000))
        if path.startswith("/c-call/"):  # one C call that returns after a while
            sum(range(_number(path)))
        if path == "/debugger":
            time.sleep(0)  # a debugger stops here (the tests' tracer waits on this line)
        if path.startswith("/breakpoint/"):  # then, in the debugger, a long C call
            breakpoint()
            sum(range(_number(path)))
        self.request_headers.set("x-c-loop", "passed")
        return Action.CONTINUE


# C_LOOP_MAX_STEPS: the tests' case where the harness's time limit comes before the budget
register(CLoop, max_callback_steps=int(os.environ.get("C_LOOP_MAX_STEPS", "1000000")))
