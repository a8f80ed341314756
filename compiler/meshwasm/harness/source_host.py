"""The SDK's raw host-call layer (``proxy_wasm.host_protocol.HostCalls``) over the host model.

Source mode binds an instance of ``SourceHostCalls`` with ``proxy_wasm._hostcalls.bind``: the
filter's Python then talks to the same ``Host``/``Context`` operations the compiled engine's
``env.proxy_*`` imports reach (``harness/wasm/proxy_imports.py``), with no linear memory in
between.  What this layer adds is exactly what the C module ``_proxy_wasm_abi``
(``builder/glue/abi_module.c``) adds on the compiled side, so both modes behave alike:

- ``str`` arguments are encoded as UTF-8 with ``surrogateescape``; header names/values come
  back decoded the same way; bodies, properties and shared data stay ``bytes``;
- NotFound/Empty become ``None`` (or ``[]``) where the C module does so; any other status
  raises the bound SDK copy's ``HostCallError(call_name, status)``;
- integers that would not fit the ABI's ``u32`` raise ``OverflowError``, as the C module's
  argument conversion does.

Every method is legal only while the harness runs one of the filter's callbacks (the host
model decides which context a call acts on).
"""

from __future__ import annotations

from meshwasm.harness import abi
from meshwasm.harness.foreign import call_foreign_function
from meshwasm.harness.host import Host
from meshwasm.harness.properties import get_property, set_property

Pairs = list[tuple[str, str]]
_U32 = 0xFFFFFFFF


def _bytes(value: object, call: str) -> bytes:
    """``str``/``bytes``/``bytearray`` -> bytes, as the C module's ``view_of`` converts."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(f"{call}(): expected str or bytes, got {type(value).__name__}")


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _u32(value: int) -> int:
    number = int(value)
    if not 0 <= number <= _U32:
        raise OverflowError(f"{number} does not fit the ABI's unsigned 32-bit integer")
    return number


def _pairs(pairs: object, call: str) -> list[tuple[bytes, bytes]]:
    out = []
    for pair in pairs:  # type: ignore[attr-defined]
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"{call}(): each header must be a (name, value) tuple")
        out.append((_bytes(pair[0], call), _bytes(pair[1], call)))
    return out


class SourceHostCalls:
    """``HostCalls`` for one ``Host``; ``error_type`` is the bound SDK's ``HostCallError``."""

    def __init__(self, host: Host, error_type: type[Exception]) -> None:
        self.host = host
        self.HostCallError = error_type

    def _check(self, call: str, status: int) -> None:
        if status != abi.OK:
            raise self.HostCallError(call, status)

    # -- logging, time, contexts -------------------------------------------------------
    def log(self, level: int, message: str) -> None:
        self.host.log(_u32(level), _bytes(message, "log"))  # status ignored, as in C

    def get_log_level(self) -> int:
        return self.host.log_level

    def get_current_time_ns(self) -> int:
        return self.host.clock_ns()

    def set_tick_period(self, period_ms: int) -> None:
        self.host.tick_period_ms = _u32(period_ms)  # as proxy_set_tick_period_milliseconds

    def set_effective_context(self, context_id: int) -> None:
        self._check("set_effective_context", self.host.set_effective_context(_u32(context_id)))

    def done(self) -> None:
        self._check("done", self.host.done())

    # -- header maps -------------------------------------------------------------------
    def get_header(self, map_type: int, name: str) -> str | None:
        status, value = self.host.active().get_header(_u32(map_type), _bytes(name, "get_header"))
        if status == abi.NOT_FOUND:
            return None
        self._check("get_header", status)
        return _text(value)

    def get_headers(self, map_type: int) -> Pairs:
        status, pairs = self.host.active().get_header_pairs(_u32(map_type))
        if status == abi.NOT_FOUND:
            return []
        self._check("get_headers", status)
        return [(_text(key), _text(value)) for key, value in pairs]

    def set_headers(self, map_type: int, pairs: Pairs) -> None:
        status = self.host.active().set_header_pairs(_u32(map_type), _pairs(pairs, "set_headers"))
        self._check("set_headers", status)

    def add_header(self, map_type: int, name: str, value: str) -> None:
        status = self.host.active().add_header(_u32(map_type), _bytes(name, "add_header"),
                                               _bytes(value, "add_header"))
        self._check("add_header", status)

    def replace_header(self, map_type: int, name: str, value: str) -> None:
        status = self.host.active().replace_header(
            _u32(map_type), _bytes(name, "replace_header"), _bytes(value, "replace_header"))
        self._check("replace_header", status)

    def remove_header(self, map_type: int, name: str) -> None:
        status = self.host.active().remove_header(_u32(map_type),
                                                  _bytes(name, "remove_header"))
        if status != abi.NOT_FOUND:
            self._check("remove_header", status)

    # -- buffers -----------------------------------------------------------------------
    def get_buffer(self, buffer_type: int, start: int, length: int) -> bytes | None:
        start, length = _u32(start), _u32(length)
        if start + length > _U32:
            status, data = abi.BAD_ARGUMENT, b""  # Envoy's overflow check on start + length
        else:
            status, data = self.host.active().get_buffer(_u32(buffer_type), start, length)
        if status in (abi.NOT_FOUND, abi.EMPTY):
            return None
        self._check("get_buffer", status)
        return data

    def set_buffer(self, buffer_type: int, start: int, length: int, data: bytes) -> None:
        status = self.host.active().set_buffer(_u32(buffer_type), _u32(start), _u32(length),
                                               _bytes(data, "set_buffer"))
        self._check("set_buffer", status)

    # -- stream control ----------------------------------------------------------------
    def send_local_response(self, status: int, details: str, body: bytes | str, headers: Pairs,
                            grpc_status: int) -> None:
        grpc = int(grpc_status)
        if not -(1 << 31) <= grpc < (1 << 31):
            raise OverflowError(f"grpc_status {grpc} does not fit a signed 32-bit integer")
        result = self.host.active().send_local_response(
            _u32(status), _bytes(body, "send_local_response"),
            _pairs(headers, "send_local_response"), grpc,
            _bytes(details, "send_local_response"))
        self._check("send_local_response", result)

    def continue_stream(self, stream_type: int) -> None:
        self._check("continue_stream", self.host.active().continue_stream(_u32(stream_type)))

    def close_stream(self, stream_type: int) -> None:
        self._check("close_stream", self.host.active().close_stream(_u32(stream_type)))

    # -- properties --------------------------------------------------------------------
    def get_property(self, path: str) -> bytes | None:
        status, value = get_property(self.host.active(), _bytes(path, "get_property"))
        if status == abi.NOT_FOUND:
            return None
        self._check("get_property", status)
        return value

    def set_property(self, path: str, value: bytes | str) -> None:
        status = set_property(self.host.active(), _bytes(path, "set_property"),
                              _bytes(value, "set_property"))
        self._check("set_property", status)

    # -- shared data and queues --------------------------------------------------------
    def get_shared_data(self, key: str) -> tuple[bytes | None, int]:
        status, value, cas = self.host.get_shared_data(_bytes(key, "get_shared_data"))
        if status == abi.NOT_FOUND:
            return None, cas
        self._check("get_shared_data", status)
        return value, cas

    def set_shared_data(self, key: str, value: bytes, cas: int) -> None:
        status = self.host.set_shared_data(_bytes(key, "set_shared_data"),
                                           _bytes(value, "set_shared_data"), _u32(cas))
        self._check("set_shared_data", status)

    def register_queue(self, name: str) -> int:
        status, token = self.host.register_queue(_bytes(name, "register_queue"))
        self._check("register_queue", status)
        return token

    def resolve_queue(self, vm_id: str, name: str) -> int | None:
        status, token = self.host.resolve_queue(_bytes(vm_id, "resolve_queue"),
                                                _bytes(name, "resolve_queue"))
        if status == abi.NOT_FOUND:
            return None
        self._check("resolve_queue", status)
        return token

    def enqueue(self, queue_id: int, data: bytes) -> None:
        self._check("enqueue", self.host.enqueue(_u32(queue_id), _bytes(data, "enqueue")))

    def dequeue(self, queue_id: int) -> bytes | None:
        status, data = self.host.dequeue(_u32(queue_id))
        if status == abi.EMPTY:
            return None
        self._check("dequeue", status)
        return data

    def call_foreign_function(self, name: str, argument: bytes) -> bytes | None:
        status, result = call_foreign_function(_bytes(name, "call_foreign_function"),
                                               _bytes(argument, "call_foreign_function"),
                                               self.host.declared_properties)
        if status == abi.NOT_FOUND:
            return None
        self._check("call_foreign_function", status)
        return result

    def http_call(self, cluster: str, headers: Pairs, body: bytes, trailers: Pairs,
                  timeout_ms: int) -> int:
        status, token = self.host.http_call(
            _bytes(cluster, "http_call"), _pairs(headers, "http_call"),
            _bytes(body, "http_call"), _pairs(trailers, "http_call"), _u32(timeout_ms))
        self._check("http_call", status)
        return token

    # -- gRPC --------------------------------------------------------------------------
    def grpc_call(self, upstream: str, service: str, method: str, metadata: Pairs,
                  message: bytes, timeout_ms: int) -> int:
        _pairs(metadata, "grpc_call")  # checked as the C module serializes them
        status, token = self.host.grpc.call(
            _bytes(upstream, "grpc_call"), _bytes(service, "grpc_call"),
            _bytes(method, "grpc_call"), _bytes(message, "grpc_call"), _u32(timeout_ms))
        self._check("grpc_call", status)
        return token

    def grpc_stream(self, upstream: str, service: str, method: str, metadata: Pairs) -> int:
        _pairs(metadata, "grpc_stream")
        status, token = self.host.grpc.stream(_bytes(upstream, "grpc_stream"),
                                              _bytes(service, "grpc_stream"),
                                              _bytes(method, "grpc_stream"))
        self._check("grpc_stream", status)
        return token

    def grpc_send(self, token: int, message: bytes, end_stream: bool) -> None:
        _bytes(message, "grpc_send")
        self._check("grpc_send", self.host.grpc.send(_u32(token), bool(end_stream)))

    def grpc_cancel(self, token: int) -> None:
        self._check("grpc_cancel", self.host.grpc.cancel(_u32(token)))

    def grpc_close(self, token: int) -> None:
        self._check("grpc_close", self.host.grpc.close(_u32(token)))

    def get_status(self) -> tuple[int, bytes]:
        code, message = self.host.grpc.status
        return code, message.encode()

    # -- metrics -----------------------------------------------------------------------
    def define_metric(self, kind: int, name: str) -> int:
        status, metric_id = self.host.define_metric(_u32(kind), _bytes(name, "define_metric"))
        self._check("define_metric", status)
        return metric_id

    def increment_metric(self, metric_id: int, delta: int) -> None:
        delta = int(delta)
        if not -(1 << 63) <= delta < (1 << 63):
            raise OverflowError(f"{delta} does not fit a signed 64-bit integer")
        self._check("increment_metric", self.host.increment_metric(_u32(metric_id), delta))

    def record_metric(self, metric_id: int, value: int) -> None:
        value = int(value)
        if not 0 <= value < (1 << 64):
            raise OverflowError(f"{value} does not fit an unsigned 64-bit integer")
        self._check("record_metric", self.host.record_metric(_u32(metric_id), value))

    def get_metric(self, metric_id: int) -> int:
        status, value = self.host.get_metric(_u32(metric_id))
        self._check("get_metric", status)
        return value


# The status every host call but ``log`` gets while the module is being snapshotted
# (``builder/snapshot.py`` answers its ``env.proxy_*`` stand-ins with it): Unimplemented.
BUILD_TIME_STATUS = 12


class BuildTimeHostCalls:
    """``HostCalls`` while a filter's module level runs, as ``meshwasm build`` runs it: not
    under a proxy.  Every call but ``log`` raises ``HostCallError(name, 12)`` (Unimplemented),
    as the C module reports the snapshot's answer, so module-level host calls (a metric
    defined at import) fail the same way in both modes; log lines are kept in ``logs``."""

    def __init__(self, error_type: type[Exception]) -> None:
        self.HostCallError = error_type
        self.logs: list[str] = []

    def log(self, level: int, message: str) -> None:
        self.logs.append(_text(_bytes(message, "log")))

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        error = self.HostCallError

        def refuse(*_args: object) -> object:
            raise error(name, BUILD_TIME_STATUS)
        return refuse
