"""Replay a traffic file through a real Envoy running the module, one exchange at a time.

Each exchange gets its own downstream connection.  After the response, the client closes the
connection and we wait until Envoy's ``downstream_cx_active`` gauge is back to 0: the gauge
drops when the connection manager is destroyed, which is after every filter callback of the
stream (``proxy_on_log``, ``proxy_on_done``, ``proxy_on_delete``) has run.  Envoy's log goes
unbuffered to a file, so at that point all of the exchange's log lines are in it and can be
attributed to it without sleeping.

What Envoy adds (keep in mind when comparing with the harness):
  * response headers: ``date`` and ``server: envoy`` on every response (after the filter chain,
    so the filter never sees them on a local reply); ``x-envoy-upstream-service-time`` when the
    upstream answered; ``content-length``/``content-type: text/plain`` on local replies.
  * request headers the upstream (and the filter) sees: ``x-forwarded-proto``,
    ``x-request-id``, plus ``x-envoy-expected-rq-timeout-ms`` added by the router.
Nothing is stripped here; expectations ignore headers they do not name.
Log lines that do not happen during an exchange (VM start, ``proxy_on_configure``) are in no
verdict; lines written between two exchanges (``on_tick``, ``on_queue_ready``) belong to the
next one, as in the harness.

The traffic file's extras, in Envoy:
  * ``workers`` is ``--concurrency``; Envoy picks the worker per connection, so a request's
    ``worker`` cannot be honoured (expectations must not depend on it);
  * ``at``: before a request the replay waits until that much wall-clock time has passed
    since Envoy was ready (ticks happen for real meanwhile); a file whose last ``at`` is over
    ``max_wait_seconds`` is refused;
  * each cluster under ``clusters`` is an Envoy cluster on a scripted loopback upstream
    answering as declared (a request's own ``clusters`` entry for that request only);
  * ``elapsed_ms`` is wall-clock time from sending the request to reading the response;
  * a cluster's ``delay_ms``/``reset`` make its upstream answer late or reset the connection;
  * each cluster under ``grpc`` is an HTTP/2 Envoy cluster on a scripted grpcio server
    (``grpc_upstream``) answering each method as declared (a request's own
    ``grpc`` methods for that request only); a scripted ``reset`` is refused (grpcio cannot
    reset a stream);
  * a stream the filter paused and nothing resumes ends with Envoy's own 504 "stream
    timeout" at the stream idle timeout, shortened to ``REPLAY_STREAM_IDLE_TIMEOUT_S`` (a
    replay cannot wait Envoy's 5 minutes): the verdict is the harness's, ``elapsed_ms`` is not;
  * ``now`` cannot be applied: Envoy reads the machine's wall clock (every verdict notes it);
  * ``metrics`` come from ``/stats?format=json``, where Envoy shows a metric the filter
    defined as ``name`` under ``wasmcustom.<name>`` (Prometheus output drops the prefix).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from meshwasm.deploy.envoy.config import HCM_STAT_PREFIX, LOOPBACK, EnvoyOptions
from meshwasm.deploy.envoy.logs import filter_log_lines
from meshwasm.deploy.envoy.process import EnvoyError, EnvoyProcess, start_envoy
from meshwasm.deploy.envoy.grpc_upstream import ScriptedGrpcServer, run_grpc_upstream
from meshwasm.deploy.envoy.upstream import ScriptedUpstream, chunked, read_trailers, run_upstream
from meshwasm.harness.grpc import merged_grpc
from meshwasm.failure_policy import FAIL_CLOSED
from meshwasm.replay.model import (
    Exchange, Headers, HttpRequest, Traffic, UpstreamResponse, Verdict,
)

_CONNECTIONS_GAUGE = f"http.{HCM_STAT_PREFIX}.downstream_cx_active"
#: Envoy's stats namespace for metrics a wasm filter defines (``proxy_define_metric``)
CUSTOM_METRIC_PREFIX = "wasmcustom."
_BODY_METHODS = {"POST", "PUT", "PATCH"}
#: the HCM stream_idle_timeout of a replay (Envoy's default is 5 minutes); an exchange's
#: client waits longer, so a stalled stream gets Envoy's 504 rather than a client timeout
REPLAY_STREAM_IDLE_TIMEOUT_S = 10.0
#: said of every verdict (and by ``meshwasm replay``) when a traffic file sets ``now``
NOW_IGNORED = ("the traffic file's 'now' is not applied: the envoy engine cannot set Envoy's "
               "clock (Envoy reads the machine's wall clock); time-dependent verdicts may "
               "differ from the harness")
_STALL_NOTE = ("the filter paused the stream and nothing resumed it: Envoy ended it at the "
               f"stream idle timeout (shortened to {REPLAY_STREAM_IDLE_TIMEOUT_S:g}s for replay)")


class EnvoyReplayError(RuntimeError):
    """An exchange could not be completed through Envoy (names the exchange, has the log tail)."""


class _TrailerKeepingResponse(http.client.HTTPResponse):
    """http.client reads a chunked response's trailers only to drop them (in this private
    method); keep them instead."""

    trailers: Headers = []

    def _read_and_discard_trailer(self) -> None:
        self.trailers = read_trailers(self.fp)


def send_request(port: int, request: HttpRequest,
                 timeout: float = 10.0) -> tuple[int, Headers, bytes]:
    """``exchange_request`` without the response trailers: status, headers, body."""
    return exchange_request(port, request, timeout)[:3]


def exchange_request(port: int, request: HttpRequest,
                     timeout: float = 10.0) -> tuple[int, Headers, bytes, Headers]:
    """Send ``request`` exactly as written (no headers of our own but Host and the framing:
    Content-Length, or chunked when it has trailers) on a fresh connection to
    127.0.0.1:``port``; return status, lower-cased headers, body, trailers."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    connection.response_class = _TrailerKeepingResponse
    try:
        connection.putrequest(request.method, request.path, skip_host=True,
                              skip_accept_encoding=True)
        connection.putheader("host", request.authority)
        names = set()
        for name, value in request.headers:
            names.add(name.lower())
            connection.putheader(name, value)
        if request.trailers:
            connection.putheader("transfer-encoding", "chunked")
            connection.endheaders(chunked(request.body, request.trailers))
        else:
            if "content-length" not in names and "transfer-encoding" not in names and (
                    request.body or request.method.upper() in _BODY_METHODS):
                connection.putheader("content-length", str(len(request.body)))
            connection.endheaders(request.body or None)
        response = connection.getresponse()
        body = response.read()
        headers = [(name.lower(), value) for name, value in response.getheaders()]
        trailers = response.trailers if isinstance(response, _TrailerKeepingResponse) else []
        return response.status, headers, body, trailers
    finally:
        connection.close()


def wait_connections_closed(envoy: EnvoyProcess, timeout: float = 5.0) -> None:
    """Block until Envoy has destroyed every downstream connection (see module docstring)."""
    deadline = time.monotonic() + timeout
    while envoy.gauge(_CONNECTIONS_GAUGE) > 0:
        if time.monotonic() > deadline:
            raise EnvoyReplayError(f"Envoy kept a downstream connection open for {timeout:g}s")
        time.sleep(0.002)


def _replay_one(envoy: EnvoyProcess, exchange: Exchange,
                timeout: float) -> tuple[int, Headers, bytes, Headers]:
    try:
        return exchange_request(envoy.listener_port, exchange.request, timeout)
    except (OSError, http.client.HTTPException) as error:
        raise EnvoyReplayError(
            f"exchange {exchange.name!r} (line {exchange.line}): no response from Envoy: "
            f"{error!r}; Envoy log tail:\n{envoy.log_tail()}") from error


def custom_metrics(envoy: EnvoyProcess) -> dict[str, int]:
    """Counters and gauges the filter defined, by the name it gave (prefix removed)."""
    body = envoy.admin(f"/stats?format=json&filter=^{CUSTOM_METRIC_PREFIX.replace('.', '[.]')}")
    return {stat["name"][len(CUSTOM_METRIC_PREFIX):]: int(stat["value"])
            for stat in json.loads(body).get("stats", [])
            if "value" in stat and stat.get("name", "").startswith(CUSTOM_METRIC_PREFIX)}


def _cluster_names(traffic: Traffic) -> list[str]:
    names = set(traffic.clusters)
    for exchange in traffic.exchanges:
        names.update(exchange.clusters)
    return sorted(names)


def _grpc_cluster_names(traffic: Traffic) -> list[str]:
    """The traffic file's gRPC clusters; ``EnvoyReplayError`` for a scripted reset."""
    names: set[str] = set()
    for scripts, line in [(traffic.grpc, 0)] + [(e.grpc, e.line) for e in traffic.exchanges]:
        names.update(scripts)
        for cluster, methods in scripts.items():
            for method, answer in methods.items():
                if answer.reset:
                    where = f"line {line}: " if line else ""
                    raise EnvoyReplayError(
                        f"{traffic.path}: {where}grpc {cluster} {method}: 'reset' cannot be "
                        "replayed in Envoy (the grpcio server cannot reset a stream); the "
                        "harness and source engines model it")
    return sorted(names)


def _wait_until(started: float, at_ms: int) -> None:
    delay = started + at_ms / 1000 - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _idle_timeout(status: int, headers: Headers, body: bytes) -> bool:
    """Envoy's local reply at the stream idle timeout (trailers-only to a gRPC request)."""
    if status == 504:
        return body == b"stream timeout"
    return status == 200 and ("grpc-message", "stream timeout") in headers


def replay_in_envoy(module_path: Path | None, traffic: Traffic, *, workers: int | None = None,
                    failure_policy: str = FAIL_CLOSED, ready_timeout: float = 20.0,
                    exchange_timeout: float = REPLAY_STREAM_IDLE_TIMEOUT_S + 10.0,
                    workdir: Path | None = None,
                    bootstrap_for: Callable[[EnvoyOptions], dict[str, Any]] | None = None,
                    max_wait_seconds: float = 120.0,
                    on_verdict: Callable[[int, Verdict], None] | None = None) -> list[Verdict]:
    """Run ``traffic`` through Envoy with the module at ``module_path``; one verdict per exchange.

    Starts a scripted upstream (plus one per declared cluster) and Envoy (``workers``, by
    default the traffic file's, is ``--concurrency``), sends the exchanges in order, each at
    its ``at``, and stops everything before returning.  ``workdir``, when given, keeps
    Envoy's bootstrap (``envoy.json``) and full log (``envoy.log``) for inspection.  Raises
    ``EnvoyError`` when Envoy rejects the module or does not start, ``EnvoyReplayError``
    when an exchange gets no response or the timeline is longer than ``max_wait_seconds``.
    ``on_verdict(index, verdict)`` is called as each exchange's verdict arrives (a replay in
    Envoy takes real time: ``replay`` prints each request's line then).
    """
    last_at = max((exchange.at_ms for exchange in traffic.exchanges), default=0)
    if last_at > max_wait_seconds * 1000:
        raise EnvoyReplayError(f"{traffic.path}: the last request is at {last_at}ms; a replay "
                               f"in Envoy waits at most {max_wait_seconds:g}s")
    wants_metrics = any(exchange.expect.metrics for exchange in traffic.exchanges)
    verdicts: list[Verdict] = []
    with ExitStack() as stack:
        upstream = stack.enter_context(run_upstream())
        clusters: dict[str, ScriptedUpstream] = {
            name: stack.enter_context(run_upstream()) for name in _cluster_names(traffic)}
        grpc_servers: dict[str, ScriptedGrpcServer] = {
            name: stack.enter_context(run_grpc_upstream())
            for name in _grpc_cluster_names(traffic)}
        options = EnvoyOptions(upstream_port=upstream.port,
                               module=None if module_path is None else Path(module_path),
                               plugin_config=traffic.plugin_config,
                               failure_policy=failure_policy,
                               workers=workers or traffic.workers,
                               stream_idle_timeout_seconds=REPLAY_STREAM_IDLE_TIMEOUT_S,
                               extra_clusters=tuple((name, server.port)
                                                    for name, server in clusters.items()),
                               grpc_clusters=tuple((name, server.port)
                                                   for name, server in grpc_servers.items()))
        config = None if bootstrap_for is None else bootstrap_for(options)
        envoy = stack.enter_context(start_envoy(options, ready_timeout=ready_timeout,
                                                workdir=workdir, config=config))
        offset = envoy.log_size()
        started = time.monotonic()
        for exchange in traffic.exchanges:
            _wait_until(started, exchange.at_ms)
            upstream.respond_with(exchange.upstream)
            for name, server in clusters.items():
                server.respond_with(exchange.clusters.get(name) or traffic.clusters.get(name)
                                    or UpstreamResponse())
            grpc_scripts = merged_grpc(traffic.grpc, exchange.grpc)
            for name, grpc_server in grpc_servers.items():
                grpc_server.respond_with(grpc_scripts.get(name, {}))
            seen = len(upstream.received)
            sent = time.monotonic()
            status, headers, body, trailers = _replay_one(envoy, exchange, exchange_timeout)
            elapsed_ms = (time.monotonic() - sent) * 1000
            wait_connections_closed(envoy)
            text, offset = envoy.read_log(offset)
            received = upstream.received
            verdicts.append(Verdict(
                status=status,
                headers=headers,
                body=body,
                logs=filter_log_lines(text),
                upstream_request=received[seen] if len(received) > seen else None,
                metrics=custom_metrics(envoy) if wants_metrics else {},
                elapsed_ms=elapsed_ms,
                wall_clock=True,
                notes=([_STALL_NOTE] if _idle_timeout(status, headers, body) else [])
                + ([NOW_IGNORED] if traffic.now_ns is not None else []),
                trailers=trailers,
            ))
            if on_verdict is not None:
                on_verdict(len(verdicts) - 1, verdicts[-1])
    return verdicts


__all__ = ["CUSTOM_METRIC_PREFIX", "NOW_IGNORED", "EnvoyError", "EnvoyReplayError",
           "custom_metrics",
           "exchange_request", "replay_in_envoy", "send_request",
           "wait_connections_closed"]
