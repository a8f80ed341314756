"""The host model's Envoy rules, without any Wasm: maps by phase, buffers, replies, properties."""

from __future__ import annotations

import struct

from meshwasm.harness import abi
from meshwasm.harness.context import Context
from meshwasm.harness.headers import REQUEST_INLINE, HeaderMap, decode_pairs
from meshwasm.harness.host import Host, HostOptions
from meshwasm.harness.properties import get_property, set_property
from meshwasm.replay.model import HttpRequest


def _stream() -> tuple[Host, Context, HeaderMap]:
    host = Host(b"the-config")
    context = host.new_stream(HttpRequest(path="/a?b=c"))
    headers = HeaderMap([(b":path", b"/a?b=c"), (b":authority", b"h"), (b":method", b"GET"),
                         (b"user-agent", b"curl")], inline=REQUEST_INLINE)
    context.final_request_headers = headers
    return host, context, headers


def test_a_map_is_reachable_only_during_its_phase() -> None:
    _, context, headers = _stream()
    assert context.get_header(abi.REQUEST_HEADERS, b":path") == (abi.BAD_ARGUMENT, b"")
    assert context.add_header(abi.REQUEST_HEADERS, b"x", b"1") == abi.BAD_ARGUMENT
    context.request_headers = headers  # on_request_headers running
    assert context.get_header(abi.REQUEST_HEADERS, b":PATH") == (abi.OK, b"/a?b=c")
    assert context.get_header(abi.REQUEST_HEADERS, b"x-none") == (abi.NOT_FOUND, b"")
    assert context.add_header(abi.REQUEST_HEADERS, b"X-New", b"1") == abi.OK
    assert headers.get(b"x-new") == b"1"
    context.request_headers = None  # the filter answered Continue
    # as in Envoy: request headers cannot be read from the response phase
    assert context.get_header(abi.REQUEST_HEADERS, b":path")[0] == abi.BAD_ARGUMENT
    # pairs of an unavailable map read as empty, with Ok
    assert context.get_header_pairs(abi.REQUEST_HEADERS) == (abi.OK, [])
    assert context.get_header(99, b"x")[0] == abi.BAD_ARGUMENT


def test_access_log_phase_reads_final_maps_but_cannot_write() -> None:
    _, context, headers = _stream()
    context.access_log_phase = True
    assert context.get_header(abi.REQUEST_HEADERS, b"user-agent") == (abi.OK, b"curl")
    assert context.get_header(abi.RESPONSE_HEADERS, b":status") == (abi.NOT_FOUND, b"")
    assert context.replace_header(abi.REQUEST_HEADERS, b"user-agent", b"x") == abi.BAD_ARGUMENT
    assert context.header_map_size(abi.REQUEST_HEADERS)[0] == abi.BAD_ARGUMENT


def test_header_map_size_is_in_bytes() -> None:
    _, context, headers = _stream()
    context.request_headers = headers
    assert context.header_map_size(abi.REQUEST_HEADERS) == (abi.OK, headers.byte_size())


def test_set_buffer_bytes_follows_envoys_three_cases() -> None:
    _, context, _ = _stream()
    assert context.set_buffer(abi.HTTP_REQUEST_BODY, 0, 0, b"x") == abi.BAD_ARGUMENT  # no body
    context.request_body = bytearray(b"middle")
    assert context.set_buffer(abi.HTTP_REQUEST_BODY, 0, 0, b"<") == abi.OK  # prepend
    assert context.set_buffer(abi.HTTP_REQUEST_BODY, 7, 0, b">") == abi.OK  # append
    assert context.request_body == bytearray(b"<middle>")
    assert context.set_buffer(abi.HTTP_REQUEST_BODY, 2, 3, b"?") == abi.BAD_ARGUMENT
    assert context.set_buffer(abi.HTTP_REQUEST_BODY, 0, 100, b"all") == abi.OK  # replace
    assert context.get_buffer(abi.HTTP_REQUEST_BODY, 1, 100) == (abi.OK, b"ll")  # clipped


def test_plugin_configuration_is_visible_only_while_configuring() -> None:
    host = Host(b"cfg", HostOptions(vm_config=b"vm"))
    root = host.root
    assert root.get_buffer(abi.PLUGIN_CONFIGURATION, 0, 10) == (abi.NOT_FOUND, b"")
    root.plugin_config_visible = True
    assert root.get_buffer(abi.PLUGIN_CONFIGURATION, 0, 10) == (abi.OK, b"cfg")
    assert root.get_buffer(abi.VM_CONFIGURATION, 0, 10) == (abi.OK, b"vm")
    assert root.buffer_size(abi.PLUGIN_CONFIGURATION) == (abi.OK, 3)
    assert root.get_buffer(abi.HTTP_CALL_RESPONSE_BODY, 0, 1)[0] == abi.NOT_FOUND


def test_local_reply_is_only_recorded() -> None:
    _, context, _ = _stream()
    status = context.send_local_response(403, b"no", [(b"x-why", b"policy")], -1, b"details")
    assert status == abi.OK
    assert context.local_reply is not None and context.local_reply.status == 403
    assert context.local_reply.headers == [(b"x-why", b"policy")]


def test_logs_respect_the_level_and_go_to_the_active_context() -> None:
    host, context, _ = _stream()
    host.enter(context)
    assert host.log(abi.LOG_DEBUG, b"hidden") == abi.OK
    assert host.log(abi.LOG_WARN, b"shown") == abi.OK
    assert host.log(6, b"bad level") == abi.BAD_ARGUMENT
    assert [(line.level, line.message) for line in context.logs] == [("warn", "shown")]
    assert host.set_effective_context(999) == abi.BAD_ARGUMENT
    assert host.set_effective_context(host.root.id) == abi.OK
    host.log(abi.LOG_ERROR, b"to root")
    assert host.root.logs[-1].message == "to root"


def test_properties() -> None:
    host, context, _ = _stream()
    assert get_property(context, b"request\0path") == (abi.OK, b"/a?b=c")
    assert get_property(context, b"request\0url_path") == (abi.OK, b"/a")
    assert get_property(context, b"request\0query") == (abi.OK, b"b=c")
    assert get_property(context, b"request\0method") == (abi.OK, b"GET")
    assert get_property(context, b"request\0headers\0user-agent") == (abi.OK, b"curl")
    status, pairs = get_property(context, b"request\0headers")
    assert status == abi.OK and (b":authority", b"h") in decode_pairs(pairs)
    assert get_property(context, b"response\0code")[0] == abi.NOT_FOUND
    context.response_status = 503
    assert get_property(context, b"response\0code") == (abi.OK, struct.pack("<q", 503))
    assert get_property(context, b"plugin_name") == (abi.OK, b"meshwasm")
    assert get_property(context, b"no\0such") == (abi.NOT_FOUND, b"")
    assert set_property(context, b"my.key", b"v") == abi.OK
    assert get_property(context, b"my.key") == (abi.OK, b"v")


def test_shared_data_compare_and_swap() -> None:
    host = Host(b"")
    assert host.get_shared_data(b"k")[0] == abi.NOT_FOUND
    assert host.set_shared_data(b"k", b"1", 0) == abi.OK
    status, value, cas = host.get_shared_data(b"k")
    assert (status, value) == (abi.OK, b"1")
    assert host.set_shared_data(b"k", b"2", cas + 100) == abi.CAS_MISMATCH
    assert host.set_shared_data(b"k", b"2", cas) == abi.OK
    assert host.get_shared_data(b"k")[1] == b"2"


def test_metrics() -> None:
    host = Host(b"")
    _, counter = host.define_metric(abi.METRIC_COUNTER, b"requests")
    _, gauge = host.define_metric(abi.METRIC_GAUGE, b"inflight")
    assert host.define_metric(abi.METRIC_COUNTER, b"requests") == (abi.OK, counter)
    assert host.increment_metric(counter, 2) == abi.OK
    assert host.increment_metric(counter, -1) == abi.BAD_ARGUMENT
    assert host.record_metric(gauge, 7) == abi.OK
    assert host.metric_values() == {"requests": 2, "inflight": 7}
    assert host.get_metric(12345)[0] == abi.NOT_FOUND
