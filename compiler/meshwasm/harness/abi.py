"""Numbers of the proxy-wasm ABI 0.2.1 that the host model and the engines share.

Plain ``int`` constants rather than enums: they sit on the hot path of every host call.
"""

from __future__ import annotations

# WasmResult: the status every proxy_* host call returns.
OK = 0
NOT_FOUND = 1
BAD_ARGUMENT = 2
SERIALIZATION_FAILURE = 3
PARSE_FAILURE = 4
BAD_EXPRESSION = 5
INVALID_MEMORY_ACCESS = 6
EMPTY = 7
CAS_MISMATCH = 8
RESULT_MISMATCH = 9
INTERNAL_FAILURE = 10
BROKEN_CONNECTION = 11
UNIMPLEMENTED = 12

RESULT_NAMES = (
    "Ok", "NotFound", "BadArgument", "SerializationFailure", "ParseFailure", "BadExpression",
    "InvalidMemoryAccess", "Empty", "CasMismatch", "ResultMismatch", "InternalFailure",
    "BrokenConnection", "Unimplemented",
)

# Header map types.
REQUEST_HEADERS = 0
REQUEST_TRAILERS = 1
RESPONSE_HEADERS = 2
RESPONSE_TRAILERS = 3
GRPC_RECEIVE_INITIAL_METADATA = 4
GRPC_RECEIVE_TRAILING_METADATA = 5
HTTP_CALL_RESPONSE_HEADERS = 6
HTTP_CALL_RESPONSE_TRAILERS = 7
MAX_MAP_TYPE = 7

# Buffer types.
HTTP_REQUEST_BODY = 0
HTTP_RESPONSE_BODY = 1
DOWNSTREAM_DATA = 2
UPSTREAM_DATA = 3
HTTP_CALL_RESPONSE_BODY = 4
GRPC_RECEIVE_BUFFER = 5
VM_CONFIGURATION = 6
PLUGIN_CONFIGURATION = 7
CALL_DATA = 8
MAX_BUFFER_TYPE = 8

# Stream types (proxy_continue_stream / proxy_close_stream).
STREAM_REQUEST = 0
STREAM_RESPONSE = 1
STREAM_DOWNSTREAM = 2
STREAM_UPSTREAM = 3

# Log levels, 0 trace .. 5 critical; names as LogLine.level spells them.
LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "critical")
LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_CRITICAL = range(6)

# What on_request_headers / on_response_headers return (Envoy's FilterHeadersStatus numbers).
HEADERS_CONTINUE = 0
HEADERS_STOP_ITERATION = 1
# What on_*_body returns (FilterDataStatus numbers).
DATA_CONTINUE = 0
DATA_STOP_ITERATION_AND_BUFFER = 1

# Metric types.
METRIC_COUNTER = 0
METRIC_GAUGE = 1
METRIC_HISTOGRAM = 2


def log_level_number(name: str) -> int:
    """``"info"`` -> 2; raises ``ValueError`` for an unknown name."""
    try:
        return LOG_LEVELS.index(name.lower())
    except ValueError:
        raise ValueError(f"unknown log level {name!r}; expected one of {', '.join(LOG_LEVELS)}")
