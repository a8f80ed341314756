"""rate_limit: token-bucket rate limiting shared by every worker, as Envoy's ``local_ratelimit``.

Each request is matched against the configured ``limits`` (keyed by a header's value, the
client address, the route, or one bucket for a path prefix); the matched buckets are drawn from
slowest-refilling first, and the first empty one answers 429 (``local_rate_limited``) with
``retry-after`` and, when enabled, ``x-ratelimit-limit/remaining/reset``.  ``shadow`` only
counts.  Buckets live in shared data (see ``rl_buckets``); configuration: ``schema.json``,
reference: ``README.md``.

With a ``global`` section the request (once the local buckets, if any, let it through) is also
put to a rate-limit service (``envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit``
over gRPC, descriptors built as Envoy's route ``rate_limits`` actions build them: see
``rl_descriptors``) while the stream waits; ``OVER_LIMIT`` is a 429, and a failed or late
answer lets the request through or refuses it (``failure_mode_deny``), as Envoy's
``envoy.filters.http.ratelimit`` does.
"""

from __future__ import annotations

from proxy_wasm import Action, HostCallError, HttpContext, RootContext, clock, config_schema, log
from proxy_wasm import metrics, properties, register

import rl_buckets
import rl_config
import rl_descriptors
import rls_proto


class Counters:
    """The filter's metrics, Envoy-style names under ``<stat_prefix>.http_local_rate_limit``."""

    def __init__(self, settings: rl_config.Settings) -> None:
        base = f"{settings.stat_prefix}.http_local_rate_limit."
        self.enabled = metrics.Counter(base + "enabled")
        self.ok = metrics.Counter(base + "ok")
        self.rate_limited = metrics.Counter(base + "rate_limited")
        self.enforced = metrics.Counter(base + "enforced")
        self.evictions = metrics.Counter(base + "evictions")
        self.conflicts = metrics.Counter(base + "cas_conflicts")
        service = f"{settings.stat_prefix}.ratelimit."  # Envoy: cluster.<name>.ratelimit.*
        self.service_ok = metrics.Counter(service + "ok")
        self.service_over_limit = metrics.Counter(service + "over_limit")
        self.service_error = metrics.Counter(service + "error")
        self.failure_mode_allowed = metrics.Counter(service + "failure_mode_allowed")
        for limit in settings.limits:  # (on the limit: no look-up per request)
            limit.counters = (metrics.Counter(f"{base}limit.{limit.name}.ok"),
                              metrics.Counter(f"{base}limit.{limit.name}.rate_limited"))


class Root(RootContext):
    settings: rl_config.Settings
    counters: Counters

    def on_configure(self, configuration: bytes) -> bool:
        try:
            settings = rl_config.load(configuration)
        except config_schema.ConfigError as error:
            log.error(f"rate_limit: bad configuration: {error}")
            return False
        settings.prepare_shared_data()
        self.settings, self.counters = settings, Counters(settings)
        return True


def _key_value(limit: rl_config.Limit, headers: tuple[str | None, ...]) -> str | None:
    """The value ``limit`` is keyed on for this request, or None when it does not apply;
    ``headers`` holds the values of ``Settings.header_names``."""
    kind = limit.kind
    if kind == "header":
        return headers[limit.header_index]
    if kind == "client_address":
        return rl_descriptors.host_of(properties.get_str("source", "address") or "")
    if kind == "route":
        return properties.get_str("route_name") or ""
    path = headers[limit.header_index] or ""
    return "" if path.startswith(limit.argument) else None


#: A drawn bucket and its level after the take (``rl_buckets.Outcome`` once one is needed).
Drawn = tuple[rl_buckets.Bucket, int]


class RateLimit(HttpContext[Root]):
    outcome: rl_buckets.Outcome | None = None

    waiting = False  # for the rate-limit service's answer
    #: headers the service's answer adds to the response (None: it was not asked)
    service_headers: list[tuple[str, str]] | None = None

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        settings = root.settings
        if self._local_refusal(settings, root.counters):
            return Action.PAUSE
        if settings.global_ is None:
            return Action.CONTINUE
        return self._ask_service(settings.global_)

    def _local_refusal(self, settings: rl_config.Settings, counters: Counters) -> bool:
        """Apply the local buckets; True when they refused (the local reply is sent)."""
        # Without a service to ask, an allowed request needs no more Python.
        done = settings.global_ is None
        counters.enabled.increment()
        try:
            drawn = self._draw(settings, counters)
        except rl_buckets.Conflict as conflict:
            counters.conflicts.increment()
            log.warn(f"rate_limit: shared data for {conflict} kept changing; request let through")
            if done:
                self.skip_callbacks()
            return False
        if drawn is None or drawn[1] >= 0:
            counters.ok.increment()
            if drawn is not None and settings.x_ratelimit_headers:
                self.outcome = rl_buckets.Outcome(*drawn)
            elif done:
                self.skip_callbacks()  # nothing to add to the response: no more Python
            return False
        outcome = self.outcome = rl_buckets.Outcome(*drawn)
        counters.rate_limited.increment()
        if settings.shadow:
            return False
        counters.enforced.increment()
        headers = list(settings.response_headers)
        if settings.retry_after:
            headers.append(("retry-after", str(outcome.retry_after_seconds())))
        self.send_local_response(settings.status, b"local_rate_limited", headers,
                                 details="local_rate_limited")
        return True

    def _ask_service(self, service: rl_config.Global) -> Action:
        """Send this request's descriptors to the rate-limit service and wait for its answer
        (no descriptor: nothing to ask, as Envoy)."""
        descriptors = rl_descriptors.build(service.rate_limits, self.request_headers.get)
        if not descriptors:
            return Action.CONTINUE
        try:
            self.grpc_call(service.cluster, rls_proto.SERVICE, rls_proto.METHOD,
                           rls_proto.request(service.domain, descriptors),
                           timeout_ms=service.timeout_ms)
        except HostCallError as error:  # the proxy refused the call: e.g. no such cluster
            if self._service_failed(service, f"cannot call cluster {service.cluster!r} "
                                             f"({error})"):
                return Action.PAUSE
            return Action.CONTINUE
        self.waiting = True
        return Action.PAUSE

    def on_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        return Action.PAUSE if self.waiting else Action.CONTINUE

    def on_grpc_receive(self, token: int, message: bytes) -> None:
        settings, counters = self.root.settings, self.root.counters
        service = settings.global_
        assert service is not None  # (only asked with a global section)
        try:
            answer = rls_proto.Response(message)
        except ValueError as error:
            self._service_failed(service, f"unreadable RateLimitResponse ({error})")
            return
        self.waiting = False
        x_headers = answer.x_ratelimit_headers() if settings.x_ratelimit_headers else []
        if answer.over_limit:
            counters.service_over_limit.increment()
            flag = [("x-envoy-ratelimited", "true")] if service.x_envoy_ratelimited else []
            self.send_local_response(settings.status, answer.body,
                                     answer.response_headers + x_headers + flag,
                                     details="request_rate_limited")
            return
        counters.service_ok.increment()
        for name, value in answer.request_headers:
            self.request_headers.set(name, value)
        self.service_headers = answer.response_headers + x_headers
        self.resume_request()

    def on_grpc_close(self, token: int, status: int, message: str) -> None:
        service = self.root.settings.global_
        assert service is not None
        self._service_failed(service, f"gRPC status {status} ({message})")

    def _service_failed(self, service: rl_config.Global, why: str) -> bool:
        """No usable answer: refuse (``failure_mode_deny``; True) or let the request
        through (resumed when it waits; False)."""
        counters = self.root.counters
        counters.service_error.increment()
        waiting, self.waiting = self.waiting, False
        if service.failure_mode_deny:
            log.warn(f"rate_limit: rate-limit service failed: {why}; request refused")
            self.send_local_response(service.status_on_error, b"", details="rate_limiter_error")
            return True
        counters.failure_mode_allowed.increment()
        log.warn(f"rate_limit: rate-limit service failed: {why}; request let through")
        if waiting:
            self.resume_request()
        return False

    def _draw(self, settings: rl_config.Settings, counters: Counters) -> Drawn | None:
        """Take a token from each matched bucket, slowest-refilling first, up to the first
        that refuses; then from the default bucket.  The deciding bucket (the refusing one,
        else the first matched, else the default) or None when no bucket applies."""
        now = clock.now_ns()
        names = settings.header_names
        if len(names) > 1:
            headers = self.request_headers.get_many(*names)  # one host call for all
        elif names:
            headers = (self.request_headers.get(names[0]),)
        else:
            headers = ()
        first: Drawn | None = None
        matched = False
        for limit in settings.limits:
            # (the common kind inline: a function call per limit is a visible cost)
            value = headers[limit.header_index] if limit.kind == "header" \
                else _key_value(limit, headers)
            if value is None:
                continue
            matched = True
            if limit.ring is None:
                left = rl_buckets.take_fixed(limit.store, limit.bucket, now)
            else:
                left, evicted = limit.ring.take(limit.bucket, value, now)
                if evicted:
                    counters.evictions.increment()
            ok_counter, limited_counter = limit.counters
            if left < 0:
                limited_counter.increment()
                return limit.bucket, left
            ok_counter.increment()
            if first is None:
                first = limit.bucket, left
        default = settings.default
        if default is None or (matched and not settings.always_consume_default):
            return first
        left = rl_buckets.take_fixed(settings.default_key, default, now)
        if left < 0 or first is None:
            return default, left
        return first

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        added = self.service_headers
        if added is not None:  # the service's answer decides the x-ratelimit-* headers
            for name, value in added:
                self.response_headers.add(name, value)
            return Action.CONTINUE
        outcome = self.outcome
        if outcome is not None and self.root.settings.x_ratelimit_headers:
            headers = self.response_headers
            headers.add("x-ratelimit-limit", str(outcome.bucket.max_tokens))
            headers.add("x-ratelimit-remaining", str(outcome.remaining))
            headers.add("x-ratelimit-reset", str(outcome.reset_seconds()))
        return Action.CONTINUE


register(RateLimit, root=Root)
