"""Envoy bootstrap generation: one loopback listener, the wasm filter, the router, one upstream.

The bootstrap is a plain dict (JSON-serialisable; Envoy reads JSON as YAML).  Everything binds
to 127.0.0.1; port 0 means "let the kernel choose" and the real ports are read back from the
admin endpoint once Envoy is up (see ``process``), so parallel Envoys never race for
ports.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshwasm.failure_policy import FAIL_CLOSED, check_policy

LOOPBACK = "127.0.0.1"
LISTENER_NAME = "meshwasm_ingress"
CLUSTER_NAME = "meshwasm_upstream"
#: HTTP connection manager stat prefix: stats are ``http.<prefix>.*`` on the admin endpoint.
HCM_STAT_PREFIX = "meshwasm"
WASM_FILTER = "envoy.filters.http.wasm"
V8_RUNTIME = "envoy.wasm.runtime.v8"

_STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"
_BYTES_VALUE = "type.googleapis.com/google.protobuf.BytesValue"
_UPSTREAM_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@dataclass(frozen=True)
class EnvoyOptions:
    """What varies between the Envoys we start.

    ``module`` None gives the same Envoy without the wasm filter (a baseline for benchmarks).
    ``plugin_config`` reaches the filter's ``proxy_on_configure`` byte for byte.
    ``failure_policy`` is Envoy's for a VM that failed: FAIL_CLOSED answers requests with
    503, FAIL_OPEN lets them through the filter untouched, FAIL_RELOAD starts a new VM
    (``meshwasm.failure_policy``).
    ``workers`` is Envoy's ``--concurrency`` (one wasm VM per worker).
    Ports 0 are chosen by the kernel.
    """

    upstream_port: int
    module: Path | None = None
    plugin_config: bytes = b""
    failure_policy: str = FAIL_CLOSED
    workers: int = 1
    listener_port: int = 0
    admin_port: int = 0
    vm_id: str = "meshwasm"
    root_id: str = ""
    plugin_name: str = "meshwasm"
    #: bounds how long a single exchange may take inside Envoy
    route_timeout_seconds: float = 10.0
    #: where the upstream is: an IP address (STATIC cluster) or a DNS name (STRICT_DNS)
    upstream_host: str = LOOPBACK
    #: the address the listener binds (loopback unless asked otherwise)
    listener_host: str = LOOPBACK
    #: more clusters, (name, port) on loopback: what a filter's ``http_call`` can reach
    extra_clusters: tuple[tuple[str, int], ...] = ()
    #: HTTP/2 clusters, (name, port) on loopback: what a filter's ``grpc_call`` can reach
    grpc_clusters: tuple[tuple[str, int], ...] = ()
    #: the HCM's stream_idle_timeout (None: Envoy's default, 5 minutes); replays shorten it
    stream_idle_timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        check_policy(self.failure_policy)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        for name in ("upstream_port", "listener_port", "admin_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} must be a TCP port (0..65535), got {port}")
        if self.upstream_port == 0:
            raise ValueError("upstream_port must be the port the upstream listens on, not 0")
        for name, port in self.extra_clusters + self.grpc_clusters:
            if name == CLUSTER_NAME or not 0 < port <= 65535:
                raise ValueError(f"extra cluster {name!r}: the name must not be "
                                 f"{CLUSTER_NAME!r} and the port must be 1..65535, got {port}")
        for name in ("vm_id", "root_id", "plugin_name"):
            # Envoy prefixes filter log lines with these, up to a colon (see logs.py)
            if ":" in getattr(self, name):
                raise ValueError(f"{name} must not contain ':', got {getattr(self, name)!r}")


def plugin_configuration(config: bytes) -> dict[str, Any]:
    """The ``configuration`` Any for the raw plugin config bytes.

    Envoy hands a StringValue's (or BytesValue's) value to the filter unchanged.  Protobuf
    strings must be UTF-8, so other bytes go in a BytesValue (base64 in JSON).
    """
    try:
        return {"@type": _STRING_VALUE, "value": config.decode("utf-8")}
    except UnicodeDecodeError:
        return {"@type": _BYTES_VALUE, "value": base64.b64encode(config).decode("ascii")}


def wasm_filter(options: EnvoyOptions) -> dict[str, Any]:
    """The ``envoy.filters.http.wasm`` entry of the HTTP filter chain."""
    assert options.module is not None
    return {
        "name": WASM_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": options.plugin_name,
                "root_id": options.root_id,
                "vm_config": {
                    "vm_id": options.vm_id,
                    "runtime": V8_RUNTIME,
                    "code": {"local": {"filename": str(Path(options.module).resolve())}},
                },
                "configuration": plugin_configuration(options.plugin_config),
                "failure_policy": options.failure_policy,
            },
        },
    }


def _address(port: int, host: str = LOOPBACK) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a process that must be told
    its port up front; Envoy's own listeners use port 0 instead)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def bootstrap(options: EnvoyOptions) -> dict[str, Any]:
    """The full bootstrap for ``options``; pass it to ``envoy -c`` as JSON."""
    http_filters = [] if options.module is None else [wasm_filter(options)]
    http_filters.append({
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        },
    })
    timeout = f"{options.route_timeout_seconds:g}s"
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": HCM_STAT_PREFIX,
        "codec_type": "AUTO",
        "route_config": {
            "name": "meshwasm_routes",
            "virtual_hosts": [{
                "name": "all",
                "domains": ["*"],
                "routes": [{
                    "match": {"prefix": "/"},
                    "route": {"cluster": CLUSTER_NAME, "timeout": timeout},
                }],
            }],
        },
        "http_filters": http_filters,
        # HTTP/1 trailers are dropped unless enabled (HTTP/2, Istio's usual hop, has them)
        "http_protocol_options": {"enable_trailers": True},
    }
    if options.stream_idle_timeout_seconds is not None:
        hcm["stream_idle_timeout"] = f"{options.stream_idle_timeout_seconds:g}s"
    return {
        "node": {"id": "meshwasm", "cluster": "meshwasm"},
        "admin": {"address": _address(options.admin_port)},
        "static_resources": {
            "listeners": [{
                "name": LISTENER_NAME,
                "address": _address(options.listener_port, options.listener_host),
                "filter_chains": [{
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": hcm,
                    }],
                }],
            }],
            "clusters": [_cluster(CLUSTER_NAME, options.upstream_port, options.upstream_host)]
            + [_cluster(name, port) for name, port in options.extra_clusters]
            + [_cluster(name, port, http2=True) for name, port in options.grpc_clusters],
        },
    }


def _cluster(name: str, port: int, host: str = LOOPBACK, http2: bool = False) -> dict[str, Any]:
    """A cluster of one endpoint; ``http2``: spoken to over HTTP/2 (gRPC), else HTTP/1."""
    protocol = {"http2_protocol_options": {}} if http2 else \
        {"http_protocol_options": {"enable_trailers": True}}
    return {
        "name": name,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "2s",
        "typed_extension_protocol_options": {_UPSTREAM_HTTP_OPTIONS: {
            "@type": f"type.googleapis.com/{_UPSTREAM_HTTP_OPTIONS}",
            "explicit_http_config": protocol,
        }},
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(port, host)}}]}],
        },
    }


def write_bootstrap(options: EnvoyOptions, path: Path) -> Path:
    """Write ``bootstrap(options)`` as JSON to ``path`` and return it."""
    path.write_text(json.dumps(bootstrap(options), indent=2) + "\n", encoding="utf-8")
    return path
