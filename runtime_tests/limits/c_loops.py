"""A filter whose loops run inside CPython's C code, under a small step budget
(runtime_tests/limits).  None of them returns to the eval loop before it ends, so only the
counting in the C iterators and in big-int arithmetic (toolchain/wasi/c_loop_budget.patch)
stops them; ``/<loop>/<n>`` runs the loop with size ``n``."""
import collections
import itertools
from collections.abc import Iterable

from proxy_wasm import Action, HttpContext, register


def _consume(iterable: Iterable[object]) -> int:
    """Drain an iterator in C (a deque that keeps nothing) and answer 0."""
    collections.deque(iterable, maxlen=0)
    return 0


LOOPS = {
    "sum-range": lambda n: sum(range(n)),  # past 2**31 - 1, a range of Python ints
    "max-count": lambda n: max(itertools.islice(itertools.count(), n)),
    "any-calliter": lambda n: int(any(iter(int, n))),  # int() is 0: n=1 never stops
    "set-repeat": lambda n: len(set(itertools.repeat(n, n))),
    "in-cycle": lambda n: int(-1 in itertools.islice(itertools.cycle((1, 2)), n)),
    "product": lambda n: _consume(itertools.product(range(10), repeat=n)),
    "permutations": lambda n: _consume(itertools.permutations(range(n))),
    "power": lambda n: (7 ** n) % 1000,
}


class CLoops(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        _, loop, size = self.request_headers.get(":path", "").split("/")
        result = LOOPS[loop](int(size))
        self.request_headers.set("x-result", str(result))
        return Action.CONTINUE


register(CLoops, max_callback_steps=100_000)
