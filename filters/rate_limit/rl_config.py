"""The rate-limit filter's configuration, checked against ``schema.json`` and turned into
``Limit`` objects (what to key on, which bucket).  Used from ``on_configure`` only."""

from __future__ import annotations

import json

from proxy_wasm import config_schema, resources

from rl_buckets import Bucket, Ring
from rl_descriptors import Action

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from typing import Any

    from proxy_wasm.metrics import Counter

SCHEMA = json.loads(resources.read("schema.json"))
MIN_INTERVAL_NS = 50_000_000  # Envoy refuses fill intervals under 50 ms


def duration_ns(text: str) -> int:
    """A protobuf JSON duration (``"1s"``, ``"0.25s"``) in nanoseconds (the schema checked
    the form)."""
    whole, _, fraction = text[:-1].partition(".")
    return int(whole) * 1_000_000_000 + int((fraction + "000000000")[:9])


def bucket(field: str, spec: dict[str, Any]) -> Bucket:
    """A ``Bucket`` from a ``token_bucket`` object; ``field`` names it in errors."""
    interval = duration_ns(spec["fill_interval"])
    if interval < MIN_INTERVAL_NS:
        raise config_schema.ConfigError([f"{field}.fill_interval: must be at least 0.05s "
                                         f"(as Envoy's local_ratelimit), got {spec['fill_interval']}"])
    return Bucket(spec["max_tokens"], spec.get("tokens_per_fill", 1), interval)


class Limit:
    """One configured limit: which requests it applies to, how they are keyed, its bucket."""

    __slots__ = ("name", "kind", "argument", "bucket", "store", "ring", "header_index",
                 "counters")

    def __init__(self, name: str, kind: str, argument: str, token_bucket: Bucket,
                 store: str, ring_size: int) -> None:
        self.name = name
        self.kind = kind  # header | client_address | route | path_prefix
        self.argument = argument  # the header name or the path prefix
        self.bucket = token_bucket
        self.store = store  # shared-data key (fixed) or key prefix (ring)
        self.ring = Ring(store, ring_size) if kind != "path_prefix" else None
        self.header_index = -1  # where Settings.header_names has the header keyed on
        #: (ok, rate_limited) metrics, set by the filter's Counters once metrics exist
        self.counters: tuple[Counter, Counter]


class Global:
    """The ``global`` section: which rate-limit service to ask, with which descriptors."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.domain: str = spec["domain"]
        self.cluster: str = spec["cluster"]
        self.timeout_ms: int = spec.get("timeout_ms", 20)  # Envoy's default
        self.failure_mode_deny: bool = spec.get("failure_mode_deny", False)
        self.status_on_error: int = spec.get("status_on_error", 500)
        self.x_envoy_ratelimited = not spec.get("disable_x_envoy_ratelimited_header", False)
        self.rate_limits = [[Action(action) for action in entry["actions"]]
                            for entry in spec["rate_limits"]]


class Settings:
    """The whole validated configuration."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.stat_prefix: str = document.get("stat_prefix", "http_local_rate_limiter")
        self.status: int = document.get("status", 429)
        self.shadow: bool = document.get("shadow", False)
        self.x_ratelimit_headers = document.get("enable_x_ratelimit_headers", "OFF") \
            == "DRAFT_VERSION_03"
        self.retry_after: bool = document.get("retry_after", True)
        self.response_headers = list(document.get("response_headers_to_add", {}).items())
        self.max_keys: int = document.get("max_keys", 1024)
        self.always_consume_default = document.get("always_consume_default_token_bucket", True)
        self.global_: Global | None = Global(document["global"]) if "global" in document \
            else None
        # (rl2: E is stored in hex since this layout; a decimal value must not be misread)
        base = f"meshwasm.rl2.{self.stat_prefix}."
        self.default: Bucket | None = None
        self.default_key = base + "default"
        if "token_bucket" in document:
            self.default = bucket("token_bucket", document["token_bucket"])
        limits = []
        seen: set[str] = set()
        for index, spec in enumerate(document.get("limits", [])):
            name = spec["name"]
            if name in seen:
                raise config_schema.ConfigError([f"limits[{index}].name: {name!r} is used twice"])
            seen.add(name)
            [(kind, argument)] = spec["key"].items()
            limits.append(Limit(name, kind, argument if isinstance(argument, str) else "",
                                bucket(f"limits[{index}].token_bucket", spec["token_bucket"]),
                                f"{base}{name}." if kind != "path_prefix" else f"{base}{name}",
                                self.max_keys))
        # Envoy consumes the matched descriptors slowest-refilling first (stable for ties).
        limits.sort(key=lambda limit: limit.bucket.fill_rate)
        self.limits: list[Limit] = limits
        #: the request headers the limits key on (":path" for path_prefix), read together
        names: list[str] = []
        for limit in limits:
            if limit.kind in ("header", "path_prefix"):
                name = limit.argument.lower() if limit.kind == "header" else ":path"
                if name not in names:
                    names.append(name)
                limit.header_index = names.index(name)
        self.header_names = tuple(names)

    def prepare_shared_data(self) -> None:
        """Create every shared-data key this configuration uses (see ``rl_buckets``)."""
        from rl_buckets import prepare_fixed

        if self.default is not None:
            prepare_fixed(self.default_key)
        for limit in self.limits:
            if limit.ring is not None:
                limit.ring.prepare()
            else:
                prepare_fixed(limit.store)


def load(configuration: bytes) -> Settings:
    """Parse, validate and build the settings; raises ``config_schema.ConfigError``."""
    return Settings(config_schema.load(configuration, SCHEMA))
