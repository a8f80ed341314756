"""Source mode: run a filter's Python in this interpreter against the harness's host model.

The filter is not compiled: ``SourceGuest`` imports it (and a private copy of the
``proxy_wasm`` SDK) in-process, binds the SDK's raw host-call layer to the same ``Host`` the
compiled engine uses (``source_host.SourceHostCalls``), and hands the stream driver
(``stream.PluginRunner``) the dispatcher's callbacks under their ``proxy_on_*`` names, so the
driver runs exactly the sequence it runs for a module.  Because it is plain Python, a
filter's tracebacks quote its source lines, and coverage and ``breakpoint()`` work.

Isolation: every guest has its own module objects — the SDK package, the filter (under its
file's stem, as in a compiled module) and the modules it imports from its own folder — so
two replays never share registrations, contexts or module globals.  Those modules are
removed from ``sys.modules`` once the filter is loaded (a module first imported from inside
a callback, rather than at the top of a file, is the host's ordinary import).

Differences from compiled mode: ``print``/``sys.stderr`` lines go to the log as in a module
(info/error, line-buffered) except after ``breakpoint()``, which gets the real terminal for the
rest of that callback; imports are not checked against what a module can bundle (run
``meshwasm build`` for that).  Module level runs as a build runs it, with no proxy behind the
host calls (``BuildTimeHostCalls``: its log lines go to ``SourceGuest.build_logs``, a metric
defined there gets id 0): a filter that depends on the proxy at import time fails in both
modes alike.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import Any

from meshwasm import abi_table
from meshwasm.failure_policy import FAIL_CLOSED
from meshwasm.harness import abi, source_watchdog
from meshwasm.harness.errors import GuestTrap, ModuleError
from meshwasm.harness.host import Host, HostOptions, PendingCall, replay_options
from meshwasm.harness.shared import Proxy
from meshwasm.harness.source_budget import SourceTrap, step_budget
from meshwasm.harness.source_host import BuildTimeHostCalls, SourceHostCalls
from meshwasm.harness.source_limits import CallbackTimeLimit, SourceGuard
from meshwasm.harness.headers import HeaderMap
from meshwasm.harness.source_memory import VmMemory, address_space
from meshwasm.harness.stream import NextHop, PluginRunner, Served
from meshwasm.harness.workers import Workers
from meshwasm.replay.model import (FROM_TRAFFIC, Exchange, FromTraffic, HttpRequest, LogLine,
                                  Traffic, Verdict)

SDK = "proxy_wasm"
# Dispatcher functions, by the export name the stream driver calls.
_CALLBACKS = tuple(callback.dispatcher for callback in abi_table.CALLBACKS)


def full_traceback(error: BaseException) -> str:
    """The interpreter's own traceback text, source lines included."""
    return "".join(traceback.format_exception(error)).rstrip("\n")


def _local_names(folder: Path) -> set[str]:
    """Top-level module names the filter's folder provides (``x.py`` and packages)."""
    names = {path.stem for path in folder.glob("*.py")}
    names.update(path.parent.name for path in folder.glob("*/__init__.py"))
    return names


def _owned(name: str, roots: set[str]) -> bool:
    return name.partition(".")[0] in roots


class _ModuleSpace:
    """The guest's own module objects, swapped into ``sys.modules`` while it runs.

    ``roots`` are the top-level names it owns (the SDK and what its folder provides); while
    ``active``, those names resolve to its modules only (the host's are set aside), and any
    owned module imported meanwhile becomes its own.
    """

    def __init__(self, folder: Path, roots: set[str]) -> None:
        self.folder, self.roots = str(folder), roots
        self.modules: dict[str, ModuleType] = {}
        self._seen = -1  # len(sys.modules) when the host's owned names were last listed
        self._host_owned: list[str] = []

    @contextmanager
    def active(self) -> Iterator[None]:
        modules = sys.modules
        if len(modules) != self._seen:
            self._host_owned = [name for name in modules if _owned(name, self.roots)]
        saved = {name: modules.pop(name) for name in self._host_owned if name in modules}
        modules.update(self.modules)
        sys.path.insert(0, self.folder)
        before = len(modules)
        try:
            yield
        finally:
            sys.path.remove(self.folder)
            if len(modules) != before:
                self.modules.update((name, module) for name, module in modules.items()
                                    if _owned(name, self.roots))
            for name in self.modules:
                modules.pop(name, None)
            modules.update(saved)
            self._seen = len(modules)


class _StdioToLog:
    """Line-buffered ``sys.stdout``/``sys.stderr`` stand-ins writing to the host log, as the
    module's WASI shim does; swapped in around each callback."""

    def __init__(self, host: Host, level: int) -> None:
        self.host, self.level, self._line = host, level, ""

    def write(self, text: str) -> int:
        *complete, self._line = (self._line + text).split("\n")
        for line in complete:
            if line:
                self.host.log(self.level, line.encode("utf-8", "surrogateescape"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class SourceGuest:
    """A filter imported from source, playing the ``stream.Guest`` part.

    Construct it once per ``Host``: it loads the filter (raising ``ModuleError`` with the
    traceback when importing fails or ``register()`` was not called).  Callbacks may be
    called at any time; wrapping a series of them in ``session()`` (as ``SourcePlugin``
    does per request) swaps the guest's modules and stdio in once instead of per call.
    """

    def __init__(self, filter_path: Path, host: Host) -> None:
        self.path = Path(filter_path).resolve()
        self.host = host
        self.label = str(filter_path)
        self._stdout = _StdioToLog(host, abi.LOG_INFO)
        self._stderr = _StdioToLog(host, abi.LOG_ERROR)
        self._saved: tuple[Any, Any, Any] | None = None
        self._depth = 0
        self.guard = SourceGuard(host.options.callback_time_limit_s,
                                 host.options.source_memory_limit_mb)
        folder = self.path.parent
        self.space = _ModuleSpace(folder, _local_names(folder) | {SDK})
        before = address_space()
        self.dispatch = self._load()
        self._limits = self.space.modules[f"{SDK}.limits"]  # this guest's LimitExceeded
        # The dispatcher's rules, as the module's glue reads them (exports.c)
        self._policy_callbacks = frozenset(self.dispatch.POLICY_CALLBACKS)
        self._logged_callbacks = frozenset(self.dispatch.LOGGED_CALLBACKS)
        active = self.dispatch._active
        self.memory = VmMemory(active.max_memory_mb if active is not None else 0,
                               address_space() - before,
                               lambda level, text: self.host.log(level, text.encode()))
        # A module does not export the stream callbacks its filter leaves to the default
        # (builder/callbacks.py): the proxy does not call them, here neither.
        unused = {name for bit, name in enumerate(self.dispatch.SKIPPABLE)
                  if self._skip_mask & (1 << bit)}
        self.callbacks: dict[str, Callable[..., int | None]] = {
            f"proxy_{name}": self._wrap(name, getattr(self.dispatch, name))
            for name in _CALLBACKS
            if callable(getattr(self.dispatch, name, None)) and name not in unused}

    def _load(self) -> ModuleType:
        if not self.path.is_file():
            raise ModuleError(f"{self.label}: no such filter file")
        stem = self.path.stem
        self.host.enter(self.host.root)
        with self.session():
            hostcalls = importlib.import_module(f"{SDK}._hostcalls")
            build_time = BuildTimeHostCalls(hostcalls.HostCallError)
            hostcalls.bind(build_time)
            dispatch = importlib.import_module(f"{SDK}._dispatch")
            dispatch.format_exception = full_traceback  # this copy quotes source lines
            spec = importlib.util.spec_from_file_location(stem, self.path)
            if spec is None or spec.loader is None:
                raise ModuleError(f"{self.label}: cannot be imported as a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[stem] = module
            try:
                spec.loader.exec_module(module)
                self._skip_mask: int = dispatch.check_registered(stem)
            except (Exception, SystemExit) as error:  # (Ctrl-C while importing: stop)
                raise ModuleError(f"{self.label}: importing the filter failed:\n"
                                  f"{full_traceback(error)}") from None
            finally:
                self.build_logs = build_time.logs
            hostcalls.bind(SourceHostCalls(self.host, hostcalls.HostCallError))
        return dispatch

    @contextmanager
    def session(self) -> Iterator[None]:
        """Make this guest's modules and its stdio-to-log the interpreter's, meanwhile."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        saved = sys.stdout, sys.stderr, sys.breakpointhook
        with self.space.active(), self.guard.session():
            sys.stdout, sys.stderr = self._stdout, self._stderr  # type: ignore[assignment]
            sys.breakpointhook = self._breakpoint
            self._saved, self._depth = saved, 1
            try:
                yield
            finally:
                sys.stdout, sys.stderr, sys.breakpointhook = saved
                self._saved, self._depth = None, 0

    def _breakpoint(self, *args: Any, **kwargs: Any) -> Any:
        """``breakpoint()`` inside the filter: give the debugger the real terminal back."""
        saved = self._saved
        self.guard.stop_timing()  # the debugger may take as long as it likes
        source_watchdog.debugger_entered()
        if saved is None:
            return sys.__breakpointhook__(*args, **kwargs)
        sys.stdout, sys.stderr = saved[0], saved[1]
        return saved[2](*args, **kwargs)

    def _budget(self, name: str) -> AbstractContextManager[None]:
        """The registration's step budget around callback ``name`` (source_budget.py)."""
        active = self.dispatch._active
        if active is None:
            return nullcontext()
        return step_budget(name, active.max_callback_steps, self._limits.GRACE_STEPS,
                           self._limits.LimitExceeded, self.guard.time_limit_s)

    def _wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., int]:
        def call(*args: int) -> int:
            result = self.guard.run(lambda: self._invoke(name, function, args))
            return _as_u32(result, name, self.host)
        call.__name__ = f"proxy_{name}"
        return call

    def _invoke(self, name: str, function: Callable[..., Any], args: tuple[int, ...]) -> Any:
        """One dispatcher call, with the VM's memory ceiling around it (``source_memory``:
        what glue/vm_limits.c does around a module's callbacks)."""
        context_id = args[0] if args else 0
        self.memory.begin(name, context_id, ends_stream=name == "on_delete")
        try:
            result = self._call(name, function, args)
        except BaseException:
            self.memory.discard()
            raise
        if self.memory.end(context_id, is_stream=name in self._policy_callbacks
                           or name in self._logged_callbacks):
            return self._fail_without_python(name, result)
        return result

    def _fail_without_python(self, name: str, result: Any) -> Any:
        """The filter's policy for a request whose callback crossed the memory ceiling, as
        the module's glue applies it (exports.c ``fail_without_python``): let it through
        (fail_open, on_log/on_done), or answer ``error_status`` with no body."""
        active = self.dispatch._active
        if name in self._logged_callbacks or active is None or active.fail_open:
            return result
        with self.session():
            hostcalls = self.space.modules[f"{SDK}._hostcalls"]
            try:
                hostcalls.abi.send_local_response(active.error_status, "", b"", [], -1)
            except hostcalls.HostCallError:
                return result
        return 1  # Action.PAUSE: the local reply ends the stream

    def _call(self, name: str, function: Callable[..., Any], args: tuple[int, ...]) -> Any:
        """One dispatcher call in this guest's session; what the module's glue does when it
        raises."""
        try:
            with self._budget(name):
                if self._depth:
                    return function(*args)
                with self.session():
                    return function(*args)
        except CallbackTimeLimit:
            raise
        except SourceTrap as trap:  # past the step budget's grace, as a module traps
            self.host.log(abi.LOG_CRITICAL, str(trap).encode())
            raise GuestTrap(str(trap)) from None
        except (Exception, self._limits.LimitExceeded) as error:  # the dispatcher failed
            self._unhandled(name, error)
            return 0
        except BaseException as error:  # SystemExit, KeyboardInterrupt: the filter's
            return self._after_base_exception(name, args, error)

    def _unhandled(self, name: str, error: BaseException) -> None:
        self.host.log(abi.LOG_ERROR, (f"meshwasm: unhandled Python error in {name}\n"
                                      f"{full_traceback(error)}").encode())

    def _after_base_exception(self, name: str, args: tuple[int, ...],
                              error: BaseException) -> int:
        """What the module's glue does with an exception the dispatcher's ``except
        FAILURES`` lets through (a filter's own direct BaseException subclass): the
        filter's policy for a stream callback, a logged traceback for on_log/on_done, and
        for the root's callbacks an unhandled error."""
        dispatch = self.dispatch
        if name in self._policy_callbacks:
            return dispatch.fail_stream(dispatch._streams.get(args[0]), name, error)
        if name in self._logged_callbacks:
            dispatch._log_exception(name, error)
            return 1 if name == "on_done" else 0
        self._unhandled(name, error)
        return 0

    def start(self) -> None:
        """What a module does before its first callback: leave build-time mode."""
        with self.session():
            self.dispatch.start_runtime()


def _as_u32(result: object, name: str, host: Host) -> int:
    """A dispatcher function's result as the C glue converts it (None -> 0, an int masked to
    u32).  The dispatcher answers a filter's wrong result itself (``wrong_result``); anything
    else reaching here is the runtime's error, reported as the glue does."""
    if result is None:
        return 0
    if isinstance(result, int):
        return result & 0xFFFFFFFF
    host.log(abi.LOG_ERROR, f"meshwasm: unhandled Python error in {name}".encode())
    host.log(abi.LOG_ERROR, f"TypeError: {type(result).__name__!r} object cannot be "
                            "interpreted as an integer".encode())
    return 0


class _SourceRunner(PluginRunner):
    """``PluginRunner`` entering the guest's session once per request, tick or queue
    delivery rather than once per callback."""

    guest: SourceGuest

    def run(self, exchange: Exchange) -> Verdict:
        with self.guest.session():
            return super().run(exchange)

    def serve(self, exchange: Exchange, upstream: list[HttpRequest],
              incoming: tuple[HeaderMap, bytes, HeaderMap | None] | None = None,
              next_hop: NextHop | None = None) -> Served:
        with self.guest.session():
            return super().serve(exchange, upstream, incoming, next_hop)

    def finish(self, served: Served) -> None:
        with self.guest.session():
            super().finish(served)

    def tick(self) -> None:
        with self.guest.session():
            super().tick()

    def queue_ready(self, context_id: int, token: int) -> None:
        with self.guest.session():
            super().queue_ready(context_id, token)

    def call_answer(self, call: PendingCall) -> None:
        with self.guest.session():
            super().call_answer(call)


class SourcePlugin:
    """A filter loaded from source into a fresh harness VM, started and configured; the
    source-mode counterpart of ``CompiledPlugin`` (same ``host``, ``run``, ``startup_logs``;
    several plugins given the same ``proxy`` are the worker VMs of one Envoy).
    """

    def __init__(self, filter_path: Path, plugin_config: bytes,
                 options: HostOptions | None = None, proxy: Proxy | None = None) -> None:
        self.host = Host(plugin_config, options, proxy)
        path = Path(filter_path)

        def new_guest(host: Host) -> SourceGuest:
            return SourceGuest(path, host)

        self.guest = new_guest(self.host)
        self.runner = _SourceRunner(self.host, self.guest, label=str(filter_path),
                                    new_guest=new_guest)
        with self.guest.session():
            self.startup_logs: list[LogLine] = self.runner.start()

    def run(self, exchange: Exchange) -> Verdict:
        """Replay one ``Exchange``; returns its ``Verdict``."""
        return self.runner.run(exchange)


def start_source_workers(filter_path: Path, traffic: Traffic, options: HostOptions,
                         workers: int | None = None) -> Workers:
    """``replay.start_workers`` for a filter's source: each worker VM its own import."""
    proxy = Proxy(traffic.clusters, traffic.now_ns, traffic.grpc)
    runners: list[PluginRunner] = [
        SourcePlugin(filter_path, traffic.plugin_config,
                     HostOptions(**{**vars(options), "worker": index}), proxy).runner
        for index in range(workers or traffic.workers)]
    return Workers(runners, proxy)


def replay_source(filter_path: Path, traffic: Traffic, *, log_level: str = "info",
                  failure_policy: str = FAIL_CLOSED, workers: int | None = None,
                  time_limit_s: float | None | FromTraffic = FROM_TRAFFIC,
                  memory_limit_mb: int | None | FromTraffic = FROM_TRAFFIC,
                  on_verdict: Callable[[int, Verdict], None] | None = None,
                  ) -> list[Verdict]:
    """``replay_module`` for a filter's source file: every exchange of ``traffic`` in order,
    on the same virtual timeline and worker VMs, one ``Verdict`` each
    (``on_verdict(index, verdict)`` as each is done).  Raises ``ModuleError`` when the
    filter cannot be imported or the plugin does not start as Envoy would.
    ``time_limit_s`` and ``memory_limit_mb``: ``source_limits.py`` (by default the traffic
    file's ``harness_limits``).  A callback stuck in C code ends the process
    (``source_watchdog.py``)."""
    options = replay_options(traffic, log_level, failure_policy, time_limit_s, memory_limit_mb)
    with source_watchdog.scope():
        pool = start_source_workers(filter_path, traffic, options, workers)
        return source_watchdog.replay_each(traffic, pool.run, on_verdict)
