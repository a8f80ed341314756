"""rate_limit: token-bucket rate limiting shared by every worker, as Envoy's ``local_ratelimit``.

Each request is matched against the configured ``limits`` (keyed by a header's value, the
client address, the route, or one bucket for a path prefix); the matched buckets are drawn from
slowest-refilling first, and the first empty one answers 429 (``local_rate_limited``) with
``retry-after`` and, when enabled, ``x-ratelimit-limit/remaining/reset``.  ``shadow`` only
counts.  Buckets live in shared data (see ``rl_buckets``); configuration: ``schema.json``,
reference: ``README.md``.
"""

from __future__ import annotations

from proxy_wasm import Action, HttpContext, RootContext, clock, config_schema, log, metrics
from proxy_wasm import properties, register

import rl_buckets
import rl_config


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
        return _host(properties.get_str("source", "address") or "")
    if kind == "route":
        return properties.get_str("route_name") or ""
    path = headers[limit.header_index] or ""
    return "" if path.startswith(limit.argument) else None


def _host(address: str) -> str:
    """The IP of ``ip:port`` or ``[ipv6]:port`` (what Envoy's ``remote_address`` action keys on)."""
    if address.startswith("["):
        return address[1:address.find("]")]
    head, colon, port = address.rpartition(":")
    return head if colon and port.isdigit() and ":" not in head else address


#: A drawn bucket and its level after the take (``rl_buckets.Outcome`` once one is needed).
Drawn = tuple[rl_buckets.Bucket, int]


class RateLimit(HttpContext[Root]):
    outcome: rl_buckets.Outcome | None = None

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        root = self.root
        settings, counters = root.settings, root.counters
        counters.enabled.increment()
        try:
            drawn = self._draw(settings, counters)
        except rl_buckets.Conflict as conflict:
            counters.conflicts.increment()
            log.warn(f"rate_limit: shared data for {conflict} kept changing; request let through")
            self.skip_callbacks()
            return Action.CONTINUE
        if drawn is None or drawn[1] >= 0:
            counters.ok.increment()
            if drawn is not None and settings.x_ratelimit_headers:
                self.outcome = rl_buckets.Outcome(*drawn)
            else:
                self.skip_callbacks()  # nothing to add to the response: no more Python
            return Action.CONTINUE
        outcome = self.outcome = rl_buckets.Outcome(*drawn)
        counters.rate_limited.increment()
        if settings.shadow:
            return Action.CONTINUE
        counters.enforced.increment()
        headers = list(settings.response_headers)
        if settings.retry_after:
            headers.append(("retry-after", str(outcome.retry_after_seconds())))
        self.send_local_response(settings.status, b"local_rate_limited", headers,
                                 details="local_rate_limited")
        return Action.PAUSE

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
        outcome = self.outcome
        if outcome is not None and self.root.settings.x_ratelimit_headers:
            headers = self.response_headers
            headers.add("x-ratelimit-limit", str(outcome.bucket.max_tokens))
            headers.add("x-ratelimit-remaining", str(outcome.remaining))
            headers.add("x-ratelimit-reset", str(outcome.reset_seconds()))
        return Action.CONTINUE


register(RateLimit, root=Root)
