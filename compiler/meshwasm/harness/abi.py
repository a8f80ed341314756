"""Numbers of the proxy-wasm ABI 0.2.1 that the host model and the engines share.

Plain ``int`` constants rather than enums: they sit on the hot path of every host call.
Their values come from the ABI table (``meshwasm.abi_table``).
"""

from __future__ import annotations

from collections.abc import Callable

from meshwasm import abi_table

_status = abi_table.STATUSES.index
# WasmResult: the status every proxy_* host call returns.
OK = _status("OK")
NOT_FOUND = _status("NOT_FOUND")
BAD_ARGUMENT = _status("BAD_ARGUMENT")
SERIALIZATION_FAILURE = _status("SERIALIZATION_FAILURE")
PARSE_FAILURE = _status("PARSE_FAILURE")
BAD_EXPRESSION = _status("BAD_EXPRESSION")
INVALID_MEMORY_ACCESS = _status("INVALID_MEMORY_ACCESS")
EMPTY = _status("EMPTY")
CAS_MISMATCH = _status("CAS_MISMATCH")
RESULT_MISMATCH = _status("RESULT_MISMATCH")
INTERNAL_FAILURE = _status("INTERNAL_FAILURE")
BROKEN_CONNECTION = _status("BROKEN_CONNECTION")
UNIMPLEMENTED = _status("UNIMPLEMENTED")

#: "Ok", "NotFound", ...: the names Envoy's logs use
RESULT_NAMES = tuple("".join(word.capitalize() for word in name.split("_"))
                     for name in abi_table.STATUSES)


def _member(enum: str) -> Callable[[str], int]:
    return lambda name: abi_table.enum_value(enum, name)


# Header map types.
_map = _member("MapType")
REQUEST_HEADERS = _map("REQUEST_HEADERS")
REQUEST_TRAILERS = _map("REQUEST_TRAILERS")
RESPONSE_HEADERS = _map("RESPONSE_HEADERS")
RESPONSE_TRAILERS = _map("RESPONSE_TRAILERS")
GRPC_RECEIVE_INITIAL_METADATA = _map("GRPC_RECEIVE_INITIAL_METADATA")
GRPC_RECEIVE_TRAILING_METADATA = _map("GRPC_RECEIVE_TRAILING_METADATA")
HTTP_CALL_RESPONSE_HEADERS = _map("HTTP_CALL_RESPONSE_HEADERS")
HTTP_CALL_RESPONSE_TRAILERS = _map("HTTP_CALL_RESPONSE_TRAILERS")
MAX_MAP_TYPE = len(abi_table.ENUMS["MapType"]) - 1

# Buffer types.
_buffer = _member("BufferType")
HTTP_REQUEST_BODY = _buffer("REQUEST_BODY")
HTTP_RESPONSE_BODY = _buffer("RESPONSE_BODY")
DOWNSTREAM_DATA = _buffer("DOWNSTREAM_DATA")
UPSTREAM_DATA = _buffer("UPSTREAM_DATA")
HTTP_CALL_RESPONSE_BODY = _buffer("HTTP_CALL_RESPONSE_BODY")
GRPC_RECEIVE_BUFFER = _buffer("GRPC_RECEIVE_BUFFER")
VM_CONFIGURATION = _buffer("VM_CONFIGURATION")
PLUGIN_CONFIGURATION = _buffer("PLUGIN_CONFIGURATION")
CALL_DATA = _buffer("CALL_DATA")
MAX_BUFFER_TYPE = len(abi_table.ENUMS["BufferType"]) - 1

# Stream types (proxy_continue_stream / proxy_close_stream).
_stream = _member("StreamType")
STREAM_REQUEST = _stream("REQUEST")
STREAM_RESPONSE = _stream("RESPONSE")
STREAM_DOWNSTREAM = _stream("DOWNSTREAM")
STREAM_UPSTREAM = _stream("UPSTREAM")

# Log levels, 0 trace .. 5 critical; names as LogLine.level spells them.
LOG_LEVELS = tuple(name.lower() for name in abi_table.ENUMS["LogLevel"])
LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_CRITICAL = range(len(LOG_LEVELS))

# What on_request_headers / on_response_headers return (Envoy's FilterHeadersStatus numbers).
HEADERS_CONTINUE = 0
HEADERS_STOP_ITERATION = 1
# What on_*_body returns (FilterDataStatus numbers).
DATA_CONTINUE = 0
DATA_STOP_ITERATION_AND_BUFFER = 1

# Metric types.
_metric = _member("MetricType")
METRIC_COUNTER = _metric("COUNTER")
METRIC_GAUGE = _metric("GAUGE")
METRIC_HISTOGRAM = _metric("HISTOGRAM")


def log_level_number(name: str) -> int:
    """``"info"`` -> 2; raises ``ValueError`` for an unknown name."""
    try:
        return LOG_LEVELS.index(name.lower())
    except ValueError:
        raise ValueError(f"unknown log level {name!r}; expected one of {', '.join(LOG_LEVELS)}")
