"""proxy_wasm: write Envoy/Istio HTTP filters in Python (proxy-wasm ABI 0.2.1).

A filter is a module that subclasses :class:`HttpContext` (and optionally
:class:`RootContext`) and calls :func:`register` once::

    from proxy_wasm import Action, HttpContext, register

    class AddHeader(HttpContext):
        def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
            self.response_headers.set("x-hello", "world")
            return Action.CONTINUE

    register(AddHeader)

``meshwasm build filter.py -o filter.wasm`` compiles it into a proxy-wasm module.
"""

from . import clock, log, metrics, properties, queues, shared_data
from ._hostcalls import HostCallError
from ._registry import register
from .context import HttpContext, RootContext
from .headers import HeaderMap
from .limits import LimitExceeded
from .types import Action, BufferType, LogLevel, MapType, Status, StreamType

__all__ = [
    "Action", "BufferType", "HeaderMap", "HostCallError", "HttpContext", "LimitExceeded",
    "LogLevel", "MapType", "RootContext", "Status", "StreamType", "clock", "log", "metrics", "properties",
    "queues", "register", "shared_data",
]
