"""Shared by the benchmarks: Envoy's CPU time and resident memory from /proc, its allocator
figures from the admin ``/memory`` endpoint, and a bounded keep-alive load from client threads
on loopback with per-request latencies."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from meshwasm.deploy.envoy.process import EnvoyProcess

Request = tuple[str, dict[str, str]]  # (path, headers)


def cpu_ns(pid: int) -> int:
    """Total on-CPU time of every thread of ``pid`` (schedstat, ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread ended while we looked
    return total


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` (``VmRSS`` of /proc/PID/status, KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS")


#: the fields of Envoy's admin ``/memory`` the benchmarks report (tcmalloc, bytes)
ADMIN_MEMORY_FIELDS = ("allocated", "heap_size", "pageheap_free")


def admin_memory(envoy: EnvoyProcess) -> dict[str, int]:
    """``ADMIN_MEMORY_FIELDS`` of a running Envoy's ``/memory`` (bytes).  Wasm linear memory
    and V8's code are mapped outside tcmalloc: they show in ``rss_kib``, not here."""
    answer = json.loads(envoy.admin("/memory"))
    return {name: int(answer.get(name, 0)) for name in ADMIN_MEMORY_FIELDS}


@dataclass
class LoadResult:
    p50_us: float
    p99_us: float
    cpu_us: float  # Envoy CPU per request
    statuses: list[int] = field(default_factory=list)

    def as_row(self) -> dict[str, float]:
        return {"p50": self.p50_us, "p99": self.p99_us, "cpu": self.cpu_us}


def _client(port: int, requests: list[Request], latencies: list[float],
            statuses: list[int]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for path, headers in requests:
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            statuses.append(response.status)
    finally:
        connection.close()


def run_load(port: int, pid: int, per_client: list[list[Request]]) -> LoadResult:
    """Send each client's requests on its own keep-alive connection, all clients at once;
    measure latency per request and the Envoy process's CPU over the whole load."""
    latencies: list[float] = []
    statuses: list[int] = []
    threads = [threading.Thread(target=_client, args=(port, requests, latencies, statuses))
               for requests in per_client]
    before = cpu_ns(pid)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = cpu_ns(pid) - before
    latencies.sort()
    done = len(latencies)
    return LoadResult(latencies[done // 2] * 1e6, latencies[int(done * 0.99)] * 1e6,
                      spent / done / 1e3, statuses)


def serial_cpu_us(envoy: EnvoyProcess, requests: list[Request], warmup: list[Request],
                  expect: int | None = 200, port: int | None = None) -> float:
    """Envoy CPU per request (us) over ``requests`` sent one after another on one keep-alive
    connection, after ``warmup`` on another (connection pools, V8 tiers, caches), to
    ``port`` (default: Envoy's listener).  Raises when a response is not ``expect`` (None:
    any status), so a filter that refused the load is never reported as cheap."""
    target = envoy.listener_port if port is None else port
    results = [run_load(target, envoy.pid, [load]) for load in (warmup, requests) if load]
    if len(results[-1].statuses) != len(requests):
        raise RuntimeError(f"only {len(results[-1].statuses)} of {len(requests)} requests were "
                           "answered (the client's connection failed)")
    if expect is not None:
        statuses = [status for result in results for status in result.statuses]
        wrong = sorted({status for status in statuses if status != expect})
        if wrong:
            raise RuntimeError(f"{sum(s != expect for s in statuses)} of {len(statuses)} "
                               f"responses were not {expect}: {wrong}")
    return results[-1].cpu_us


def print_load_report(title: str, rows: dict[str, dict[str, float]], floor: str, peer: str,
                      ours: str) -> None:
    """Print ``run_load`` rows (label -> ``as_row()``) as a table, then ``ours``' ratios to
    ``peer`` measured in the same run (CPU added: both minus the ``floor`` row)."""
    width = max(len(label) for label in rows) + 2
    print(title)
    print(f"  {'':{width}} {'p50 us':>8} {'p99 us':>8} {'Envoy CPU us/req':>17}")
    for label, row in rows.items():
        print(f"  {label:{width}} {row['p50']:8.0f} {row['p99']:8.0f} {row['cpu']:17.1f}")
    base, theirs, mine = rows[floor], rows[peer], rows[ours]
    added = max(theirs["cpu"] - base["cpu"], 0.1)
    print(f"  {ours} / {peer}: p50 {mine['p50'] / theirs['p50']:.2f}x, "
          f"CPU per request {mine['cpu'] / theirs['cpu']:.2f}x, "
          f"CPU added over {floor} {(mine['cpu'] - base['cpu']) / added:.1f}x")
