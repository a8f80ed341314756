"""The ABI's enumerations, named.  Values are those of proxy-wasm ABI 0.2.1."""

from __future__ import annotations

import enum
import sys
from enum import IntEnum

if sys.platform == "wasi" and "__getattr__" in vars(enum.EnumType):
    # Inside a compiled module: CPython 3.11's EnumType.__getattr__ (gone in 3.12; members are
    # class attributes anyway) sends every ``Action.CONTINUE`` through a Python-level hook,
    # ~1.7k Wasm instructions per look-up on the request path.
    del enum.EnumType.__getattr__


class Action(IntEnum):
    """What a stream callback tells the proxy to do next."""

    CONTINUE = 0
    """Pass the headers/body on to the next filter."""
    PAUSE = 1
    """Stop here until the filter calls ``resume_request``/``resume_response`` (or replied)."""


class LogLevel(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    CRITICAL = 5


class MapType(IntEnum):
    """Which header map a header call works on."""

    REQUEST_HEADERS = 0
    REQUEST_TRAILERS = 1
    RESPONSE_HEADERS = 2
    RESPONSE_TRAILERS = 3
    GRPC_RECEIVE_INITIAL_METADATA = 4
    GRPC_RECEIVE_TRAILING_METADATA = 5
    HTTP_CALL_RESPONSE_HEADERS = 6
    HTTP_CALL_RESPONSE_TRAILERS = 7


class BufferType(IntEnum):
    """Which byte buffer a buffer call works on."""

    REQUEST_BODY = 0
    RESPONSE_BODY = 1
    DOWNSTREAM_DATA = 2
    UPSTREAM_DATA = 3
    HTTP_CALL_RESPONSE_BODY = 4
    GRPC_RECEIVE_BUFFER = 5
    VM_CONFIGURATION = 6
    PLUGIN_CONFIGURATION = 7
    CALL_DATA = 8


class StreamType(IntEnum):
    REQUEST = 0
    RESPONSE = 1
    DOWNSTREAM = 2
    UPSTREAM = 3


class Status(IntEnum):
    """Host call results (``HostCallError.status``)."""

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
