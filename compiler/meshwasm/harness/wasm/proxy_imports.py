"""The ``env.proxy_*`` imports of ABI 0.2.1, bound to the host model.

Each function reads its arguments out of linear memory, asks the host model, and writes the
answer back (allocating through the module), returning a WasmResult as Envoy's
proxy-wasm-cpp-host does: an out-of-bounds pointer is InvalidMemoryAccess, not a trap.
What the harness does not do yet answers Unimplemented (12).  The names and signatures come
from the ABI table (``meshwasm.abi_table``).
"""

from __future__ import annotations

from collections.abc import Callable

from meshwasm import abi_table
from meshwasm.harness import abi
from meshwasm.harness.foreign import call_foreign_function
from meshwasm.harness.headers import decode_pairs, encode_pairs
from meshwasm.harness.host import Host
from meshwasm.harness.properties import get_property, set_property
from meshwasm.harness.wasm.memory import GuestMemory

_BAD_MEMORY = abi.INVALID_MEMORY_ACCESS

# Import name -> signature ("params>results"; i = i32, I = i64), as Envoy registers them.
SIGNATURES: dict[str, str] = abi_table.host_signatures()


def _unimplemented(*_args: int) -> int:
    return abi.UNIMPLEMENTED


def proxy_functions(host: Host, mem: GuestMemory) -> dict[str, Callable[..., int | None]]:
    """Implementations of every name in ``SIGNATURES`` over ``host`` and ``mem``."""
    read = mem.read
    active = host.active

    def proxy_log(level: int, ptr: int, size: int) -> int:
        message = read(ptr, size)
        if message is None:
            return _BAD_MEMORY
        return host.log(level, message)

    def proxy_get_log_level(out: int) -> int:
        return abi.OK if mem.set_u32(out, host.log_level) else _BAD_MEMORY

    def proxy_get_current_time_nanoseconds(out: int) -> int:
        return abi.OK if mem.set_u64(out, host.clock_ns()) else _BAD_MEMORY

    def proxy_set_tick_period_milliseconds(period: int) -> int:
        host.tick_period_ms = period  # the replay driver fires on_tick on the virtual clock
        return abi.OK

    def proxy_get_property(path_ptr: int, path_size: int, out_ptr: int, out_size: int) -> int:
        path = read(path_ptr, path_size)
        if path is None:
            return _BAD_MEMORY
        status, value = get_property(active(), path)
        if status != abi.OK:
            return status
        return abi.OK if mem.copy_out(value, out_ptr, out_size) else _BAD_MEMORY

    def proxy_set_property(key_ptr: int, key_size: int, value_ptr: int, value_size: int) -> int:
        key, value = read(key_ptr, key_size), read(value_ptr, value_size)
        if key is None or value is None:
            return _BAD_MEMORY
        return set_property(active(), key, value)

    def proxy_send_local_response(status: int, details_ptr: int, details_size: int,
                                  body_ptr: int, body_size: int, headers_ptr: int,
                                  headers_size: int, grpc_status: int) -> int:
        details = read(details_ptr, details_size)
        body = read(body_ptr, body_size)
        raw_headers = read(headers_ptr, headers_size)
        if details is None or body is None or raw_headers is None:
            return _BAD_MEMORY
        headers = decode_pairs(raw_headers) or []
        grpc = grpc_status - (1 << 32) if grpc_status & 0x80000000 else grpc_status
        return active().send_local_response(status, body, headers, grpc, details)

    def proxy_get_header_map_value(map_type: int, key_ptr: int, key_size: int,
                                   out_ptr: int, out_size: int) -> int:
        key = read(key_ptr, key_size)
        if key is None:
            return _BAD_MEMORY
        status, value = active().get_header(map_type, key)
        if status != abi.OK:
            return status
        return abi.OK if mem.copy_out(value, out_ptr, out_size) else _BAD_MEMORY

    def proxy_add_header_map_value(map_type: int, key_ptr: int, key_size: int,
                                   value_ptr: int, value_size: int) -> int:
        key, value = read(key_ptr, key_size), read(value_ptr, value_size)
        if key is None or value is None:
            return _BAD_MEMORY
        return active().add_header(map_type, key, value)

    def proxy_replace_header_map_value(map_type: int, key_ptr: int, key_size: int,
                                       value_ptr: int, value_size: int) -> int:
        key, value = read(key_ptr, key_size), read(value_ptr, value_size)
        if key is None or value is None:
            return _BAD_MEMORY
        return active().replace_header(map_type, key, value)

    def proxy_remove_header_map_value(map_type: int, key_ptr: int, key_size: int) -> int:
        key = read(key_ptr, key_size)
        if key is None:
            return _BAD_MEMORY
        return active().remove_header(map_type, key)

    def proxy_get_header_map_pairs(map_type: int, out_ptr: int, out_size: int) -> int:
        status, pairs = active().get_header_pairs(map_type)
        if status != abi.OK:
            return status
        return abi.OK if mem.copy_out(encode_pairs(pairs), out_ptr, out_size) else _BAD_MEMORY

    def proxy_set_header_map_pairs(map_type: int, ptr: int, size: int) -> int:
        data = read(ptr, size)
        if data is None:
            return _BAD_MEMORY
        return active().set_header_pairs(map_type, decode_pairs(data) or [])

    def proxy_get_header_map_size(map_type: int, out: int) -> int:
        status, size = active().header_map_size(map_type)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u32(out, size) else _BAD_MEMORY

    def proxy_get_buffer_bytes(buffer_type: int, start: int, length: int,
                               out_ptr: int, out_size: int) -> int:
        if start + length > 0xFFFFFFFF:
            return abi.BAD_ARGUMENT  # Envoy's overflow check on start + length
        status, data = active().get_buffer(buffer_type, start, length)
        if status != abi.OK:
            return status
        return abi.OK if mem.copy_out(data, out_ptr, out_size) else _BAD_MEMORY

    def proxy_get_buffer_status(buffer_type: int, length_ptr: int, flags_ptr: int) -> int:
        status, size = active().buffer_size(buffer_type)
        if status != abi.OK:
            return status
        if not (mem.set_u32(length_ptr, size) and mem.set_u32(flags_ptr, 0)):
            return _BAD_MEMORY
        return abi.OK

    def proxy_set_buffer_bytes(buffer_type: int, start: int, length: int,
                               data_ptr: int, data_size: int) -> int:
        data = read(data_ptr, data_size)
        if data is None:
            return _BAD_MEMORY
        return active().set_buffer(buffer_type, start, length, data)

    def proxy_get_shared_data(key_ptr: int, key_size: int, out_ptr: int, out_size: int,
                              cas_ptr: int) -> int:
        key = read(key_ptr, key_size)
        if key is None:
            return _BAD_MEMORY
        status, value, cas = host.get_shared_data(key)
        if status != abi.OK:
            return status
        if not (mem.copy_out(value, out_ptr, out_size) and mem.set_u32(cas_ptr, cas)):
            return _BAD_MEMORY
        return abi.OK

    def proxy_set_shared_data(key_ptr: int, key_size: int, value_ptr: int, value_size: int,
                              cas: int) -> int:
        key, value = read(key_ptr, key_size), read(value_ptr, value_size)
        if key is None or value is None:
            return _BAD_MEMORY
        return host.set_shared_data(key, value, cas)

    def proxy_register_shared_queue(name_ptr: int, name_size: int, token_ptr: int) -> int:
        name = read(name_ptr, name_size)
        if name is None:
            return _BAD_MEMORY
        status, token = host.register_queue(name)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u32(token_ptr, token) else _BAD_MEMORY

    def proxy_resolve_shared_queue(vm_id_ptr: int, vm_id_size: int, name_ptr: int,
                                   name_size: int, token_ptr: int) -> int:
        vm_id, name = read(vm_id_ptr, vm_id_size), read(name_ptr, name_size)
        if vm_id is None or name is None:
            return _BAD_MEMORY
        status, token = host.resolve_queue(vm_id, name)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u32(token_ptr, token) else _BAD_MEMORY

    def proxy_enqueue_shared_queue(token: int, data_ptr: int, data_size: int) -> int:
        data = read(data_ptr, data_size)
        if data is None:
            return _BAD_MEMORY
        return host.enqueue(token, data)

    def proxy_dequeue_shared_queue(token: int, data_ptr_ptr: int, data_size_ptr: int) -> int:
        status, data = host.dequeue(token)
        if status != abi.OK:
            return status
        return abi.OK if mem.copy_out(data, data_ptr_ptr, data_size_ptr) else _BAD_MEMORY

    def proxy_http_call(cluster_ptr: int, cluster_size: int, headers_ptr: int,
                        headers_size: int, body_ptr: int, body_size: int, trailers_ptr: int,
                        trailers_size: int, timeout_ms: int, token_ptr: int) -> int:
        cluster = read(cluster_ptr, cluster_size)
        raw_headers, body = read(headers_ptr, headers_size), read(body_ptr, body_size)
        raw_trailers = read(trailers_ptr, trailers_size)
        if cluster is None or raw_headers is None or body is None or raw_trailers is None:
            return _BAD_MEMORY
        status, token = host.http_call(cluster, decode_pairs(raw_headers) or [], body,
                                       decode_pairs(raw_trailers) or [], timeout_ms)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u32(token_ptr, token) else _BAD_MEMORY

    def proxy_grpc_call(upstream_ptr: int, upstream_size: int, service_ptr: int,
                        service_size: int, method_ptr: int, method_size: int,
                        metadata_ptr: int, metadata_size: int, message_ptr: int,
                        message_size: int, timeout_ms: int, token_ptr: int) -> int:
        upstream, service = read(upstream_ptr, upstream_size), read(service_ptr, service_size)
        method, message = read(method_ptr, method_size), read(message_ptr, message_size)
        metadata = read(metadata_ptr, metadata_size)
        if upstream is None or service is None or method is None or message is None \
                or metadata is None:
            return _BAD_MEMORY
        status, token = host.grpc.call(upstream, service, method, message, timeout_ms)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u32(token_ptr, token) else _BAD_MEMORY

    def proxy_grpc_stream(upstream_ptr: int, upstream_size: int, service_ptr: int,
                          service_size: int, method_ptr: int, method_size: int,
                          metadata_ptr: int, metadata_size: int, token_ptr: int) -> int:
        upstream, service = read(upstream_ptr, upstream_size), read(service_ptr, service_size)
        method, metadata = read(method_ptr, method_size), read(metadata_ptr, metadata_size)
        if upstream is None or service is None or method is None or metadata is None:
            return _BAD_MEMORY
        status, token = host.grpc.stream(upstream, service, method)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u32(token_ptr, token) else _BAD_MEMORY

    def proxy_grpc_send(token: int, message_ptr: int, message_size: int,
                        end_stream: int) -> int:
        if read(message_ptr, message_size) is None:
            return _BAD_MEMORY
        return host.grpc.send(token, end_stream != 0)

    def proxy_get_status(code_ptr: int, message_ptr_ptr: int, message_size_ptr: int) -> int:
        code, message = host.grpc.status
        if not (mem.set_u32(code_ptr, code)
                and mem.copy_out(message.encode(), message_ptr_ptr, message_size_ptr)):
            return _BAD_MEMORY
        return abi.OK

    def proxy_define_metric(metric_type: int, name_ptr: int, name_size: int, out: int) -> int:
        name = read(name_ptr, name_size)
        if name is None:
            return _BAD_MEMORY
        status, metric_id = host.define_metric(metric_type, name)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u32(out, metric_id) else _BAD_MEMORY

    def proxy_get_metric(metric_id: int, out: int) -> int:
        status, value = host.get_metric(metric_id)
        if status != abi.OK:
            return status
        return abi.OK if mem.set_u64(out, value) else _BAD_MEMORY

    def proxy_continue_stream(stream_type: int) -> int:
        return active().continue_stream(stream_type)

    def proxy_close_stream(stream_type: int) -> int:
        return active().close_stream(stream_type)

    def proxy_call_foreign_function(name_ptr: int, name_size: int, argument_ptr: int,
                                    argument_size: int, result_ptr_ptr: int,
                                    result_size_ptr: int) -> int:
        name, argument = read(name_ptr, name_size), read(argument_ptr, argument_size)
        if name is None or argument is None:
            return _BAD_MEMORY
        status, result = call_foreign_function(name, argument, host.declared_properties)
        if status != abi.OK:
            return status
        return abi.OK if mem.copy_out(result, result_ptr_ptr, result_size_ptr) else _BAD_MEMORY

    functions: dict[str, Callable[..., int | None]] = {
        name: _unimplemented for name in SIGNATURES
    }
    functions.update({
        "proxy_log": proxy_log,
        "proxy_get_log_level": proxy_get_log_level,
        "proxy_get_current_time_nanoseconds": proxy_get_current_time_nanoseconds,
        "proxy_set_tick_period_milliseconds": proxy_set_tick_period_milliseconds,
        "proxy_get_property": proxy_get_property,
        "proxy_set_property": proxy_set_property,
        "proxy_send_local_response": proxy_send_local_response,
        "proxy_get_header_map_value": proxy_get_header_map_value,
        "proxy_add_header_map_value": proxy_add_header_map_value,
        "proxy_replace_header_map_value": proxy_replace_header_map_value,
        "proxy_remove_header_map_value": proxy_remove_header_map_value,
        "proxy_get_header_map_pairs": proxy_get_header_map_pairs,
        "proxy_set_header_map_pairs": proxy_set_header_map_pairs,
        "proxy_get_header_map_size": proxy_get_header_map_size,
        "proxy_get_buffer_bytes": proxy_get_buffer_bytes,
        "proxy_get_buffer_status": proxy_get_buffer_status,
        "proxy_set_buffer_bytes": proxy_set_buffer_bytes,
        "proxy_get_shared_data": proxy_get_shared_data,
        "proxy_set_shared_data": proxy_set_shared_data,
        "proxy_register_shared_queue": proxy_register_shared_queue,
        "proxy_resolve_shared_queue": proxy_resolve_shared_queue,
        "proxy_enqueue_shared_queue": proxy_enqueue_shared_queue,
        "proxy_dequeue_shared_queue": proxy_dequeue_shared_queue,
        "proxy_http_call": proxy_http_call,
        "proxy_grpc_call": proxy_grpc_call,
        "proxy_grpc_stream": proxy_grpc_stream,
        "proxy_grpc_send": proxy_grpc_send,
        "proxy_grpc_cancel": host.grpc.cancel,
        "proxy_grpc_close": host.grpc.close,
        "proxy_get_status": proxy_get_status,
        "proxy_define_metric": proxy_define_metric,
        "proxy_increment_metric": host.increment_metric,
        "proxy_record_metric": host.record_metric,
        "proxy_get_metric": proxy_get_metric,
        "proxy_set_effective_context": host.set_effective_context,
        "proxy_done": host.done,
        "proxy_call_foreign_function": proxy_call_foreign_function,
        "proxy_continue_stream": proxy_continue_stream,
        "proxy_close_stream": proxy_close_stream,
        "pthread_equal": lambda left, right: int(left == right),
        "emscripten_notify_memory_growth": lambda _index: None,
    })
    return functions
