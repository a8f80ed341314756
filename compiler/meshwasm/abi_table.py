"""The proxy-wasm ABI 0.2.1 as one table: host functions, callbacks, statuses and enums.

Everything else that names a part of the ABI comes from here or is checked against it:

- the harness's import table (``harness/wasm/proxy_imports.SIGNATURES``) and the callbacks it
  calls (``harness/wasm/envoy_interface.CALLBACKS``) are built from it;
- source mode's list of dispatcher functions (``harness/source.py``) too;
- the harness's numbers (``harness/abi.py``) are read from it;
- the C glue (``builder/glue/proxy_abi.h`` declarations, ``exports.c`` callbacks) and the SDK's
  enums (``proxy_wasm.types``) cannot import Python at run time: ``compiler/tests/
  test_abi_table.py`` parses and imports them and fails when they disagree with this table.

Adding a host function: one ``HostFunction`` entry here, its declaration in ``proxy_abi.h``
(the test prints the line it expects), and its behaviour (harness ``proxy_imports``, source
``source_host``, the C module).  Signatures are Envoy's (proxy-wasm-cpp-host registers every
function below for every module, whether or not Envoy implements it).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Parameter kinds: how a value travels (all i32 in Wasm except the 64-bit ones).
#:   u32/i32/u64/i64  an integer;  size  a byte count;  ptr  a pointer to bytes the module owns;
#:   out_ptr/out_size  where the host writes a pointer to bytes it allocated and their size;
#:   out_u32/out_u64  where the host writes an integer.
C_TYPES = {
    "u32": "uint32_t", "i32": "int32_t", "u64": "uint64_t", "i64": "int64_t",
    "size": "size_t", "ptr": "const char *", "out_ptr": "char **", "out_size": "size_t *",
    "out_u32": "uint32_t *", "out_u64": "uint64_t *",
}
_WIDE = frozenset({"u64", "i64"})


def _wasm_type(kind: str) -> str:
    return "I" if kind in _WIDE else "i"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in C_TYPES:
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")


def _params(spec: str) -> tuple[Param, ...]:
    """``"level:u32 message:ptr size:size"`` -> Params."""
    return tuple(Param(*item.split(":")) for item in spec.split())


@dataclass(frozen=True)
class HostFunction:
    """An ``env.proxy_*`` import: returns a status (i32) unless ``returns`` says otherwise."""

    name: str
    params: tuple[Param, ...]
    since: str = "0.2.0"  # the ABI version that added it (0.2.0 modules do not get later ones)
    returns: str = "i"  # "" for no result

    @property
    def signature(self) -> str:
        """``"iii>i"``: the Wasm types of the parameters and results (i = i32, I = i64)."""
        return "".join(_wasm_type(p.kind) for p in self.params) + ">" + self.returns


@dataclass(frozen=True)
class Callback:
    """A ``proxy_on_*`` export Envoy calls; ``returns`` is "i" for an i32 result."""

    name: str
    params: tuple[str, ...]
    returns: str = ""

    @property
    def signature(self) -> str:
        return "i" * len(self.params) + ">" + self.returns

    @property
    def dispatcher(self) -> str:
        """The ``proxy_wasm._dispatch`` function the runtime forwards it to."""
        return self.name.removeprefix("proxy_")


def _host(name: str, spec: str = "", since: str = "0.2.0", returns: str = "i") -> HostFunction:
    return HostFunction(name, _params(spec), since, returns)


HOST_FUNCTIONS: tuple[HostFunction, ...] = (
    _host("proxy_log", "level:u32 message:ptr message_size:size"),
    _host("proxy_get_log_level", "level:out_u32", since="0.2.1"),
    _host("proxy_get_status", "code:out_u32 message:out_ptr message_size:out_size"),
    _host("proxy_set_property", "path:ptr path_size:size value:ptr value_size:size"),
    _host("proxy_get_property", "path:ptr path_size:size value:out_ptr value_size:out_size"),
    _host("proxy_send_local_response",
          "status:u32 details:ptr details_size:size body:ptr body_size:size headers:ptr "
          "headers_size:size grpc_status:i32"),
    _host("proxy_get_shared_data",
          "key:ptr key_size:size value:out_ptr value_size:out_size cas:out_u32"),
    _host("proxy_set_shared_data", "key:ptr key_size:size value:ptr value_size:size cas:u32"),
    _host("proxy_register_shared_queue", "name:ptr name_size:size token:out_u32"),
    _host("proxy_resolve_shared_queue",
          "vm_id:ptr vm_id_size:size name:ptr name_size:size token:out_u32"),
    _host("proxy_dequeue_shared_queue", "token:u32 data:out_ptr size:out_size"),
    _host("proxy_enqueue_shared_queue", "token:u32 data:ptr size:size"),
    _host("proxy_get_header_map_value",
          "map:u32 key:ptr key_size:size value:out_ptr value_size:out_size"),
    _host("proxy_add_header_map_value",
          "map:u32 key:ptr key_size:size value:ptr value_size:size"),
    _host("proxy_replace_header_map_value",
          "map:u32 key:ptr key_size:size value:ptr value_size:size"),
    _host("proxy_remove_header_map_value", "map:u32 key:ptr key_size:size"),
    _host("proxy_get_header_map_pairs", "map:u32 data:out_ptr size:out_size"),
    _host("proxy_set_header_map_pairs", "map:u32 data:ptr size:size"),
    _host("proxy_get_header_map_size", "map:u32 size:out_u32"),
    _host("proxy_get_buffer_status", "type:u32 length:out_u32 flags:out_u32"),
    _host("proxy_get_buffer_bytes", "type:u32 start:u32 length:u32 data:out_ptr size:out_size"),
    _host("proxy_set_buffer_bytes", "type:u32 start:u32 length:u32 data:ptr size:size"),
    _host("proxy_http_call",
          "upstream:ptr upstream_size:size headers:ptr headers_size:size body:ptr "
          "body_size:size trailers:ptr trailers_size:size timeout_ms:u32 token:out_u32"),
    _host("proxy_grpc_call",
          "upstream:ptr upstream_size:size service:ptr service_size:size method:ptr "
          "method_size:size metadata:ptr metadata_size:size message:ptr message_size:size "
          "timeout_ms:u32 token:out_u32"),
    _host("proxy_grpc_stream",
          "upstream:ptr upstream_size:size service:ptr service_size:size method:ptr "
          "method_size:size metadata:ptr metadata_size:size token:out_u32"),
    _host("proxy_grpc_send", "token:u32 message:ptr message_size:size end_stream:u32"),
    _host("proxy_grpc_cancel", "token:u32"),
    _host("proxy_grpc_close", "token:u32"),
    _host("proxy_set_tick_period_milliseconds", "period:u32"),
    _host("proxy_get_current_time_nanoseconds", "nanoseconds:out_u64"),
    _host("proxy_define_metric", "type:u32 name:ptr name_size:size id:out_u32"),
    _host("proxy_increment_metric", "id:u32 offset:i64"),
    _host("proxy_record_metric", "id:u32 value:u64"),
    _host("proxy_get_metric", "id:u32 value:out_u64"),
    _host("proxy_set_effective_context", "id:u32"),
    _host("proxy_done"),
    _host("proxy_call_foreign_function",
          "name:ptr name_size:size argument:ptr argument_size:size result:out_ptr "
          "result_size:out_size"),
    _host("proxy_continue_stream", "stream:u32"),
    _host("proxy_close_stream", "stream:u32"),
    # Registered by Envoy for every module (emscripten leftovers); not the ABI's.
    _host("pthread_equal", "left:u32 right:u32"),
    _host("emscripten_notify_memory_growth", "index:u32", returns=""),
)

CALLBACKS: tuple[Callback, ...] = (
    Callback("proxy_on_context_create", ("context_id", "parent_id")),
    Callback("proxy_on_vm_start", ("root_id", "vm_configuration_size"), "i"),
    Callback("proxy_on_configure", ("root_id", "plugin_configuration_size"), "i"),
    Callback("proxy_on_request_headers", ("context_id", "num_headers", "end_of_stream"), "i"),
    Callback("proxy_on_request_body", ("context_id", "body_size", "end_of_stream"), "i"),
    Callback("proxy_on_request_trailers", ("context_id", "num_trailers"), "i"),
    Callback("proxy_on_response_headers", ("context_id", "num_headers", "end_of_stream"), "i"),
    Callback("proxy_on_response_body", ("context_id", "body_size", "end_of_stream"), "i"),
    Callback("proxy_on_response_trailers", ("context_id", "num_trailers"), "i"),
    Callback("proxy_on_done", ("context_id",), "i"),
    Callback("proxy_on_log", ("context_id",)),
    Callback("proxy_on_delete", ("context_id",)),
    Callback("proxy_on_tick", ("root_id",)),
    Callback("proxy_on_queue_ready", ("root_id", "queue_id")),
    Callback("proxy_on_http_call_response",
             ("context_id", "token", "num_headers", "body_size", "num_trailers")),
    Callback("proxy_on_grpc_receive_initial_metadata", ("context_id", "token", "num_headers")),
    Callback("proxy_on_grpc_receive", ("context_id", "token", "message_size")),
    Callback("proxy_on_grpc_receive_trailing_metadata", ("context_id", "token", "num_trailers")),
    Callback("proxy_on_grpc_close", ("context_id", "token", "status_code")),
)

#: WasmResult: the status every host call answers, in number order (0 = Ok).
STATUSES: tuple[str, ...] = (
    "OK", "NOT_FOUND", "BAD_ARGUMENT", "SERIALIZATION_FAILURE", "PARSE_FAILURE",
    "BAD_EXPRESSION", "INVALID_MEMORY_ACCESS", "EMPTY", "CAS_MISMATCH", "RESULT_MISMATCH",
    "INTERNAL_FAILURE", "BROKEN_CONNECTION", "UNIMPLEMENTED",
)

#: The ABI's enumerations: name -> member names in number order (from 0).
ENUMS: dict[str, tuple[str, ...]] = {
    "LogLevel": ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL"),
    "MapType": ("REQUEST_HEADERS", "REQUEST_TRAILERS", "RESPONSE_HEADERS", "RESPONSE_TRAILERS",
                "GRPC_RECEIVE_INITIAL_METADATA", "GRPC_RECEIVE_TRAILING_METADATA",
                "HTTP_CALL_RESPONSE_HEADERS", "HTTP_CALL_RESPONSE_TRAILERS"),
    "BufferType": ("REQUEST_BODY", "RESPONSE_BODY", "DOWNSTREAM_DATA", "UPSTREAM_DATA",
                   "HTTP_CALL_RESPONSE_BODY", "GRPC_RECEIVE_BUFFER", "VM_CONFIGURATION",
                   "PLUGIN_CONFIGURATION", "CALL_DATA"),
    "StreamType": ("REQUEST", "RESPONSE", "DOWNSTREAM", "UPSTREAM"),
    "MetricType": ("COUNTER", "GAUGE", "HISTOGRAM"),
}

HOST_BY_NAME: dict[str, HostFunction] = {function.name: function for function in HOST_FUNCTIONS}
CALLBACK_BY_NAME: dict[str, Callback] = {callback.name: callback for callback in CALLBACKS}


def host_signatures() -> dict[str, str]:
    """Import name -> Wasm signature, as Envoy registers them."""
    return {function.name: function.signature for function in HOST_FUNCTIONS}


def callback_signatures() -> dict[str, str]:
    """Export name -> Wasm signature, as Envoy calls them."""
    return {callback.name: callback.signature for callback in CALLBACKS}


def enum_value(enum: str, member: str) -> int:
    """``enum_value("MapType", "REQUEST_TRAILERS")`` -> 1."""
    return ENUMS[enum].index(member)


def c_declaration(function: HostFunction) -> str:
    """The one-line C declaration ``builder/glue/proxy_abi.h`` must carry for ``function``."""
    params = ", ".join(f"{C_TYPES[p.kind]}{'' if C_TYPES[p.kind].endswith('*') else ' '}"
                       f"{p.name}" for p in function.params) or "void"
    return (f"PROXY_IMPORT({function.name}) proxy_status_t {function.name}({params});")
