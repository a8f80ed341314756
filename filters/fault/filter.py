"""fault: inject aborts (HTTP or gRPC status) and fixed delays, as Envoy's ``fault`` filter.

Faults apply to requests whose headers match ``headers`` and whose route goes to
``upstream_cluster`` (when set), each with its ``percentage``; ``header_abort``/``header_delay``
let the client ask through ``x-envoy-fault-*`` headers.  A delayed request is paused, and the
root context resumes it from ``on_tick`` (``proxy_set_effective_context`` + continue): the
worker never blocks.  ``max_active_faults`` is counted across workers in shared data.
Configuration: ``schema.json``; reference: ``README.md``.
"""

from __future__ import annotations

from proxy_wasm import Action, HttpContext, RootContext, clock, config_schema, log, metrics
from proxy_wasm import properties, register, shared_data

import fault_rules

ABORT_BODY = b"fault filter abort"
ABORT_DETAILS = "fault_filter_abort"
#: The longest tick period the ABI carries (a u32 of milliseconds); a longer delay is waited
#: out in several ticks.
MAX_TICK_PERIOD_MS = (1 << 32) - 1


class Root(RootContext):
    settings: fault_rules.Settings

    def on_configure(self, configuration: bytes) -> bool:
        try:
            settings = fault_rules.load(configuration)
        except config_schema.ConfigError as error:
            log.error(f"fault: bad configuration: {error}")
            return False
        self.settings = settings
        base = f"{settings.stat_prefix}fault."
        self.delays_injected = metrics.Counter(base + "delays_injected")
        self.aborts_injected = metrics.Counter(base + "aborts_injected")
        self.faults_overflow = metrics.Counter(base + "faults_overflow")
        self.active_faults = metrics.Gauge(base + "active_faults")  # summed over workers
        self.active_key = f"meshwasm.fault.{settings.stat_prefix}active"
        if shared_data.get(self.active_key)[0] is None:
            shared_data.set(self.active_key, b"0")
        self.held: dict[int, tuple[int, Fault]] = {}  # context id -> (due ms, stream)
        return True

    # -- the shared count of active faults ----------------------------------------------------
    def active(self) -> int:
        value = shared_data.get(self.active_key)[0]
        return int(value) if value else 0

    def add_active(self, delta: int) -> None:
        """Move the cross-worker counter by ``delta`` (compare-and-swap, retried)."""
        self.active_faults.increment(delta)
        if self.settings.max_active_faults is None:
            return
        for _ in range(64):
            value, cas = shared_data.get(self.active_key)
            count = max(0, (int(value) if value else 0) + delta)
            if shared_data.set(self.active_key, b"%d" % count, cas):
                return
        log.warn("fault: active fault counter kept changing; left as is")

    # -- delayed streams --------------------------------------------------------------------
    def hold(self, stream: Fault, delay_ms: int) -> None:
        """Keep ``stream`` paused for ``delay_ms``; ``on_tick`` releases it."""
        self.held[stream.context_id] = (clock.now_ms() + delay_ms, stream)
        self._schedule()

    def forget(self, context_id: int) -> None:
        if self.held.pop(context_id, None) is not None:
            self._schedule()

    def _schedule(self) -> None:
        """One tick, exactly when the earliest held stream is due (none: ticks stop)."""
        if not self.held:
            self.set_tick_period_ms(0)
            return
        due = min(due for due, _ in self.held.values())
        self.set_tick_period_ms(min(MAX_TICK_PERIOD_MS, max(1, due - clock.now_ms())))

    def on_tick(self) -> None:
        now = clock.now_ms()
        try:
            for context_id, (due, stream) in list(self.held.items()):
                if due > now:
                    continue
                del self.held[context_id]
                if not stream.make_effective():
                    continue  # the stream is gone (client left)
                stream.release()
        finally:  # a release that raised must not leave the other held streams unticked
            self._schedule()


def _route_cluster() -> str | None:
    """The cluster the route sends to.  Envoy knows ``cluster_name`` only once the router
    picked a host; ``xds.cluster_name`` is there from the request headers on."""
    return properties.get_str("xds", "cluster_name") or properties.cluster_name()


class Fault(HttpContext[Root]):
    active = False
    abort_after_delay: tuple[int, int | None] | None = None

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        settings = root.settings
        request = self.request_headers
        names = settings.fault_headers
        if settings.inert_without_headers and (
                not names or request.get_many(*names).count(None) == len(names)):
            # The usual request: no fault asked for and none configured to happen.
            self.skip_callbacks()
            return Action.CONTINUE
        read = settings.header_names
        headers = dict(zip(read, request.get_many(*read))) if read else {}
        if not self._applies(settings, headers):
            self.skip_callbacks()
            return Action.CONTINUE
        abort = self._abort_status(settings, headers) if settings.has_abort else None
        delay = self._delay_ms(settings, headers) if settings.has_delay else None
        if delay:
            self._start()
            root.delays_injected.increment()
            self.abort_after_delay = abort
            root.hold(self, delay)
            return Action.PAUSE
        if abort is not None:
            self._abort(abort)
            return Action.PAUSE
        self.skip_callbacks()  # nothing injected: on_done has nothing to undo
        return Action.CONTINUE

    def _applies(self, settings: fault_rules.Settings, headers: dict[str, str | None]) -> bool:
        if settings.max_active_faults is not None \
                and self.root.active() >= settings.max_active_faults:
            self.root.faults_overflow.increment()
            return False
        if settings.upstream_cluster and _route_cluster() != settings.upstream_cluster:
            return False
        return all(match.matches(headers[match.name]) for match in settings.headers)

    def _delay_ms(self, settings: fault_rules.Settings,
                  headers: dict[str, str | None]) -> int | None:
        percentage = settings.delay_percentage
        if settings.delay_from_headers:
            percentage = percentage.capped(headers[fault_rules.DELAY_PERCENT_HEADER])
        if not percentage.hit(settings.rng):
            return None
        if settings.delay_from_headers:
            return fault_rules.header_delay_ms(headers[fault_rules.DELAY_HEADER])
        return settings.delay_ms or None

    def _abort_status(self, settings: fault_rules.Settings,
                      headers: dict[str, str | None]) -> tuple[int, int | None] | None:
        """(HTTP status, gRPC status or None) when this request is to be aborted."""
        percentage = settings.abort_percentage
        if settings.abort_from_headers:
            percentage = percentage.capped(headers[fault_rules.ABORT_PERCENT_HEADER])
        if not percentage.hit(settings.rng):
            return None
        if not settings.abort_from_headers:
            if settings.abort_grpc is not None:
                return 200, settings.abort_grpc
            return settings.abort_status, None  # type: ignore[return-value]
        status = fault_rules.parse_unsigned(headers[fault_rules.ABORT_HEADER], 64)
        if status is not None and 200 <= status < 600:
            return status, None
        grpc = fault_rules.parse_unsigned(headers[fault_rules.ABORT_GRPC_HEADER], 64)
        if grpc is not None:
            # Envoy reads a 64-bit number and keeps its low 32 bits (a uint32 status): 2^32
            # aborts with status 0.  Codes past 16 reach the client as 2 (see the README).
            return 200, grpc & 0xFFFF_FFFF
        return None

    def _start(self) -> None:
        if not self.active:  # one active fault per stream, as Envoy counts
            self.active = True
            self.root.add_active(1)

    def _abort(self, status: tuple[int, int | None]) -> None:
        self._start()
        self.root.aborts_injected.increment()
        http_status, grpc_status = status
        self.send_local_response(http_status, ABORT_BODY, grpc_status=grpc_status,
                                 details=ABORT_DETAILS)

    def release(self) -> None:
        """End of the delay (from ``Root.on_tick``, this stream made effective)."""
        if self.abort_after_delay is not None:
            self._abort(self.abort_after_delay)
        else:
            self.resume_request()

    def on_done(self) -> None:
        try:
            self.root.forget(self.context_id)
        finally:  # whatever failed above, the fault's slot is given back
            if self.active:
                self.active = False
                self.root.add_active(-1)


register(Fault, root=Root)
