"""Shared by the benchmarks: Envoy's CPU time from /proc, and a bounded keep-alive load from
client threads on loopback with per-request latencies."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

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
