"""Routes the proxy's callbacks to the filter's context objects.

The runtime (C glue in the compiled module, or a harness in source mode) calls these
functions with the ABI's integer arguments.  This is also where the error policy lives: a
callback that raises has its traceback logged, then the registration's ``fail_open`` decides
between letting the stream continue and answering with ``error_status``.

One set of rules for both runtimes (docs/harness-semantics.md, "Dispatch"): source mode runs
the functions below; a compiled module's C glue (builder/glue/exports.c) runs the stream
callbacks itself, for speed, and calls back into this module for every decision off the
fast path (``fail_stream``, ``fail_uncreated``, ``creation_failed``, ``wrong_result``,
``_log_exception``), reading ``LOGGED_CALLBACKS`` once at start-up.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module
if TYPE_CHECKING:
    from collections.abc import Callable

from . import _hostcalls
from ._registry import Registration, registration
from .context import CALLOUTS, SKIP_BITS, SKIPPABLE, HttpContext, RootContext
from .grpc import answer_owner, closed_status, message_owner, received_message, received_metadata
from .limits import LimitExceeded
from .types import Action, BufferType, LogLevel

_roots: dict[int, RootContext] = {}
_streams: dict[int, HttpContext] = {}
if _hostcalls.NATIVE:
    # Inside a module, a C table with the dict methods used here: the runtime adds, finds and
    # drops streams in it without an int object per call or a dict resize every few requests.
    _streams = _hostcalls.abi.StreamTable()  # type: ignore[attr-defined]
_active: Registration | None = None
#: streams whose constructor raised: no context object, the policy applies at their first
#: stream callback (on_request_headers is kept for a filter with its own __init__)
_uncreated: set[int] = set()
# Per-request shortcuts, decided once in check_registered: a stream class that keeps
# HttpContext's __init__ / on_delete needs no Python call for them (each call into the
# interpreter costs ~1.5k Wasm instructions).
_plain_init = False
_calls_on_delete = True

#: what a callback may raise that the error policy handles: everything a filter can raise.
#: LimitExceeded, SystemExit and KeyboardInterrupt are BaseExceptions (a filter's ``except
#: Exception`` must not swallow them); the policy still applies to them.  Only a harness's
#: own BaseException subclasses pass (source mode's time limit and trap), and a filter's own
#: direct BaseException subclass, which the runtime reports as unhandled.
FAILURES = (Exception, LimitExceeded, SystemExit, KeyboardInterrupt, GeneratorExit,
            BaseExceptionGroup)

#: Stream callbacks whose raise (or wrong result) gets the error policy, and those where it
#: is only logged (the response is complete: nothing to answer).  Every other callback is a
#: root context's (or an answer's: see ``_answer``).  The C glue reads LOGGED_CALLBACKS.
POLICY_CALLBACKS = ("on_request_headers", "on_request_body", "on_request_trailers",
                    "on_response_headers", "on_response_body", "on_response_trailers")
LOGGED_CALLBACKS = ("on_log", "on_done")

CONTINUE = int(Action.CONTINUE)
PAUSE = int(Action.PAUSE)

# SKIPPABLE (from .context): stream callbacks the runtime answers without entering Python
# when the filter's class keeps the default (which lets the stream continue), or when the
# stream skipped them (HttpContext.skip_callbacks).  Bit i stands for SKIPPABLE[i].


def check_registered(module_name: str) -> int:
    """Called once after the filter module was imported: it must have called register().

    Returns the mask of ``SKIPPABLE`` callbacks the filter does not override.
    """
    global _active, _plain_init, _calls_on_delete
    _active = registration()
    if _active is None:
        raise RuntimeError(
            f"filter module {module_name!r} did not call proxy_wasm.register(YourHttpContext)")
    _plain_init = (_active.http.__init__ is HttpContext.__init__
                   and _active.http.__new__ is HttpContext.__new__)
    _calls_on_delete = _active.http.on_delete is not HttpContext.on_delete
    mask = 0
    for bit, name in enumerate(SKIPPABLE):
        if getattr(_active.http, name) is getattr(HttpContext, name):
            mask |= 1 << bit
    if not _plain_init:  # a constructor that raises fails the request in on_request_headers
        mask &= ~(1 << SKIPPABLE.index("on_request_headers"))
    if _active.root.on_done is not RootContext.on_done:  # proxy_on_done reaches the root
        mask &= ~(1 << SKIPPABLE.index("on_done"))
    return mask


def start_runtime() -> None:
    """First call in a running VM (after the build-time snapshot): re-seed randomness, so
    VMs started from the same snapshot do not share random sequences."""
    random_module = sys.modules.get("random")
    if random_module is not None:
        random_module.seed()


def format_exception(error: BaseException) -> str:
    """A Python-style traceback.  (The traceback module would pull tokenize, re and
    linecache into every module; there are no source files to quote inside a VM anyway.)"""
    sections: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines = ["Traceback (most recent call last):"]
        tb = current.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            lines.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}')
            tb = tb.tb_next
        message = str(current)
        name = type(current).__qualname__
        lines.append(f"{name}: {message}" if message else name)
        sections.append("\n".join(lines))
        if current.__cause__ is not None:
            sections.append("The above exception was the direct cause of the following exception:")
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            sections.append("During handling of the above exception, another exception occurred:")
            current = current.__context__
        else:
            current = None
    return "\n\n".join(reversed(sections))


def _log_exception(where: str, error: BaseException | None = None) -> None:
    """Log ``error`` (default: the exception being handled) with its traceback."""
    text = format_exception(error if error is not None else sys.exc_info()[1])  # type: ignore[arg-type]
    try:
        _hostcalls.abi.log(int(LogLevel.ERROR), f"filter raised in {where}:\n{text}")
    except FAILURES:  # the log call itself failed: nothing better to do
        pass


def fail_stream(context: HttpContext | None, where: str,
                error: BaseException | None = None) -> int:
    """Apply the error policy to a stream whose callback ``where`` raised ``error`` (default:
    the exception being handled); returns the action.  The compiled runtime calls stream
    callbacks directly and this only when one raised."""
    _log_exception(where, error)
    if context is None:
        return CONTINUE
    return _answer_by_policy(where)


def _answer_by_policy(where: str) -> int:
    """Continue (``fail_open``) or answer ``error_status``; returns the action."""
    policy = _active
    if policy is None or policy.fail_open:
        return CONTINUE
    try:
        _hostcalls.abi.send_local_response(policy.error_status, "meshwasm_filter_raised",
                                           b"filter error\n", [], -1)
    except FAILURES:
        _log_exception(f"{where} (sending the error reply)")
        return CONTINUE
    return PAUSE


def wrong_result(context: HttpContext, where: str, result: object) -> int:
    """Stream callback ``where`` returned ``result``, which is neither an ``Action`` (an int)
    nor None: the filter's error, logged, then the policy as for a raise; returns the
    action.  The compiled runtime calls this only for such a result."""
    try:
        _hostcalls.abi.log(int(LogLevel.ERROR),
                           f"filter returned {result!r} from {where}, not an Action")
    except FAILURES:  # the log call itself failed (a result whose repr raises...)
        pass
    return _answer_by_policy(where)


def creation_failed(context_id: int, error: BaseException | None = None) -> None:
    """The filter's ``HttpContext`` constructor raised for stream ``context_id``: log it;
    ``fail_uncreated`` applies the policy at the stream's first callback."""
    _log_exception("HttpContext.__init__", error)
    _uncreated.add(context_id)


def fail_uncreated(context_id: int, where: str) -> int:
    """A stream callback of a stream with no context object: the policy once if its
    constructor raised (Envoy cannot be answered from ``on_context_create``), else continue.
    The compiled runtime calls this only when it finds no context."""
    if context_id not in _uncreated:
        return CONTINUE
    _uncreated.discard(context_id)
    return _answer_by_policy(where)


def on_context_create(context_id: int, parent_id: int) -> None:
    policy = _active
    if policy is None:
        return
    try:
        if parent_id == 0:
            _roots[context_id] = policy.root(context_id)
            return
        root = _roots[parent_id]
    except FAILURES:
        _log_exception("context creation")
        return
    try:
        _streams[context_id] = policy.http(context_id, root)
    except FAILURES:
        creation_failed(context_id)


def _buffer(buffer_type: BufferType, size: int) -> bytes:
    if size == 0:
        return b""
    return _hostcalls.abi.get_buffer(int(buffer_type), 0, size) or b""


def on_vm_start(root_id: int, size: int) -> int:
    root = _roots.get(root_id)
    if root is None:
        return 1
    try:
        return 1 if root.on_vm_start(_buffer(BufferType.VM_CONFIGURATION, size)) else 0
    except FAILURES:
        _log_exception("on_vm_start")
        return 0


def on_configure(root_id: int, size: int) -> int:
    root = _roots.get(root_id)
    if root is None:
        return 0
    try:
        configuration = _buffer(BufferType.PLUGIN_CONFIGURATION, size)
        root.configuration = configuration
        return 1 if root.on_configure(configuration) else 0
    except FAILURES:
        _log_exception("on_configure")
        return 0


def _stream_callback(name: str, context_id: int, *args: int | bool) -> int:
    """``context.<name>(*args)`` unless the stream skipped it; a raise goes to the policy.
    (The compiled runtime does the same in C: exports.c ``stream_dispatch``.)"""
    context = _streams.get(context_id)
    if context is None:
        return fail_uncreated(context_id, name)
    if context._skipped & SKIP_BITS[name]:
        return CONTINUE
    try:
        result: object = getattr(context, name)(*args)
    except FAILURES:
        return fail_stream(context, name)
    if result is None:
        return CONTINUE
    if isinstance(result, int):
        return result & 0xFFFFFFFF  # the ABI's u32
    try:  # as the C glue reads a result: by __index__, or it is the filter's error
        action: int = type(result).__index__(result)  # type: ignore[attr-defined]
    except FAILURES:
        return wrong_result(context, name, result)
    return action & 0xFFFFFFFF


def on_request_headers(context_id: int, num_headers: int, end_of_stream: int) -> int:
    return _stream_callback("on_request_headers", context_id, num_headers, end_of_stream != 0)


def on_request_body(context_id: int, body_size: int, end_of_stream: int) -> int:
    return _stream_callback("on_request_body", context_id, body_size, end_of_stream != 0)


def on_request_trailers(context_id: int, num_trailers: int) -> int:
    return _stream_callback("on_request_trailers", context_id, num_trailers)


def on_response_headers(context_id: int, num_headers: int, end_of_stream: int) -> int:
    return _stream_callback("on_response_headers", context_id, num_headers, end_of_stream != 0)


def on_response_body(context_id: int, body_size: int, end_of_stream: int) -> int:
    return _stream_callback("on_response_body", context_id, body_size, end_of_stream != 0)


def on_response_trailers(context_id: int, num_trailers: int) -> int:
    return _stream_callback("on_response_trailers", context_id, num_trailers)


def _after_stream(name: str, context_id: int) -> None:
    """on_done / on_log: a raise is only logged (the stream is over)."""
    context = _streams.get(context_id)
    if context is None or context._skipped & SKIP_BITS[name]:
        return
    try:
        getattr(context, name)()
    except FAILURES:
        _log_exception(name)


def on_done(context_id: int) -> int:
    """1: the context may be deleted now; 0: a root context asked to finish first (it calls
    ``proxy_done`` later).  A stream's always 1."""
    root = _roots.get(context_id)
    if root is None:
        _after_stream("on_done", context_id)
        return 1
    try:
        return 0 if root.on_done() is False else 1
    except FAILURES:
        _log_exception("RootContext.on_done")
        return 1


def on_log(context_id: int) -> None:
    _after_stream("on_log", context_id)


def on_delete(context_id: int) -> None:
    context = _streams.pop(context_id, None)
    if context is None:
        _roots.pop(context_id, None)
        _uncreated.discard(context_id)
        return
    if not _calls_on_delete:
        return
    try:
        context.on_delete()
    except FAILURES:
        _log_exception("on_delete")


def on_tick(root_id: int) -> None:
    root = _roots.get(root_id)
    if root is not None:
        try:
            root.on_tick()
        except FAILURES:
            _log_exception("on_tick")


def on_queue_ready(root_id: int, queue_id: int) -> None:
    root = _roots.get(root_id)
    if root is not None:
        try:
            root.on_queue_ready(queue_id)
        except FAILURES:
            _log_exception("on_queue_ready")


def _answer(owner: int | None, context_id: int, where: str,
            callback: Callable[[RootContext | HttpContext], None]) -> None:
    """Deliver an answer to an outgoing call (http_call, gRPC) to the context that made it.

    Envoy delivers every answer to the root context whatever context called: ``owner`` (from
    the SDK's token table) names the caller, which becomes the context host calls act on.  A
    raise in a stream's callback gets the error policy (a stream paused for the answer would
    hang otherwise); in a root context's it is only logged."""
    if owner is not None and owner != context_id and owner in _streams:
        _hostcalls.abi.set_effective_context(owner)
        context_id = owner
    context = _streams.get(context_id)
    target = context if context is not None else _roots.get(context_id)
    if target is None:
        return
    try:
        callback(target)
    except FAILURES:
        if context is None:
            _log_exception(where)
        elif fail_stream(context, where) != PAUSE:
            context.resume_request()


def on_http_call_response(context_id: int, token: int, num_headers: int, body_size: int,
                          num_trailers: int) -> None:
    _answer(CALLOUTS.pop(token, None), context_id, "on_http_call_response",
            lambda target: target.on_http_call_response(token, num_headers, body_size,
                                                        num_trailers))


def on_grpc_receive_initial_metadata(context_id: int, token: int, num_headers: int) -> None:
    _answer(answer_owner(token, False), context_id, "on_grpc_receive_initial_metadata",
            lambda target: target.on_grpc_receive_initial_metadata(
                token, received_metadata(True)))


def on_grpc_receive(context_id: int, token: int, message_size: int) -> None:
    _answer(message_owner(token), context_id, "on_grpc_receive",
            lambda target: target.on_grpc_receive(token, received_message(message_size)))


def on_grpc_receive_trailing_metadata(context_id: int, token: int, num_trailers: int) -> None:
    _answer(answer_owner(token, False), context_id, "on_grpc_receive_trailing_metadata",
            lambda target: target.on_grpc_receive_trailing_metadata(
                token, received_metadata(False)))


def on_grpc_close(context_id: int, token: int, status_code: int) -> None:
    owner = answer_owner(token, True)
    _, message = closed_status()
    _answer(owner, context_id, "on_grpc_close",
            lambda target: target.on_grpc_close(token, status_code, message))
