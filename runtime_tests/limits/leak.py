"""A filter that keeps what it allocates, under a small memory ceiling (runtime_tests/limits)."""
from proxy_wasm import Action, HttpContext, register

kept: list[bytes] = []  # per VM: a new VM (FAIL_RELOAD) starts empty


class Leak(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "")
        if path.startswith("/leak/"):
            kept.append(bytes(int(path[len("/leak/"):]) * 1024 * 1024))
        self.request_headers.set("x-kept-mib", str(sum(len(b) for b in kept) // 2**20))
        return Action.CONTINUE


register(Leak, max_memory_mb=96)
