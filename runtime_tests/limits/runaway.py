"""A filter that runs away on some paths, under a small step budget (runtime_tests/limits)."""
import re

from proxy_wasm import Action, HttpContext, register, shared_data

BACKTRACKS = re.compile(r"(a+)+$")  # exponential on "aaa…b": loops inside C, not Python

served = 0  # per VM: a new VM (FAIL_RELOAD) starts again from 0


class Runaway(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        global served
        served += 1
        value, cas = shared_data.get("served")
        total = int(value or b"0") + 1
        shared_data.set("served", str(total).encode(), cas)
        path = self.request_headers.get(":path", "")
        if path == "/loop":
            while True:
                pass
        if path.startswith("/regex/"):  # 2**n steps of the regex engine
            BACKTRACKS.match("a" * int(path[len("/regex/"):]) + "b")
        if path == "/recurse":
            calls(40)
        if path == "/swallow":  # catches even LimitExceeded, and goes on: the VM stops
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        if path.startswith("/count/"):  # a bounded loop: fine within the budget
            total_steps = 0
            for _ in range(int(path[len("/count/"):])):
                total_steps += 1
        self.request_headers.set("x-served-by-this-vm", str(served))
        self.request_headers.set("x-served-in-all", str(total))
        return Action.CONTINUE


def calls(depth: int) -> int:
    """2**depth calls and no loop: each call is a step."""
    return calls(depth - 1) + calls(depth - 1) if depth else 1


register(Runaway, max_callback_steps=100_000)
