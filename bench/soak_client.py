"""The soak's load generators, loopback only, each bounded by its request count.

``fast``: several client processes (the GIL would make threads one core), each driving
``connections`` persistent HTTP/1.1 connections from one ``selectors`` loop, a request in
flight on each, requests encoded as they are drawn and responses parsed from the raw bytes.
No pipelining: Envoy 1.40 closes an HTTP/1.1 connection that sends the next request before
the previous response (two pipelined requests are answered, the rest dropped).
``simple``: the soak's first client, ``http.client`` on one keep-alive connection per thread;
kept to check the fast one against it.

Both read the same request stream for a seed (``soak_traffic.requests``) and report a
``Counter`` of (kind, status).  Status ``NO_ANSWER`` is a request whose connection failed,
stalled ``STALL_SECONDS`` or closed before its response; ``UNSENDABLE`` one no client may send.
"""

from __future__ import annotations

import http.client
import multiprocessing
import multiprocessing.sharedctypes
import queue
import selectors
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from soak_traffic import Request, TargetLoad, client_shares, encode, requests

NO_ANSWER = 0
UNSENDABLE = -1
#: seconds a connection may go without any response bytes while requests are in flight
STALL_SECONDS = 30.0
#: each client process publishes its count of answered requests this often
PROGRESS_EVERY = 500
Tally = Counter[tuple[str, int]]
Progress = Callable[[int], None]


def status_label(status: int) -> str:
    return {NO_ANSWER: "no answer", UNSENDABLE: "unsendable"}.get(status, str(status))


# -- responses ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Response:
    status: int
    close: bool  # the server said ``connection: close``
    size: int  # bytes of the buffer it took, head and body


def _chunked_size(buffer: bytearray, start: int) -> int | None:
    """Bytes from ``start`` to the end of a chunked body (and its trailers), None if
    incomplete."""
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";", 1)[0], 16)
        if size == 0:  # the last chunk; trailer lines, if any, end at the blank line
            end = buffer.find(b"\r\n\r\n", line_end)
            return None if end < 0 else end + 4 - start
        position = line_end + 2 + size + 2
        if position > len(buffer):
            return None


def parse_response(buffer: bytearray) -> Response | None:
    """The first complete HTTP/1.1 response in ``buffer``, or None while it is incomplete.
    A body is framed by content-length or chunked encoding (Envoy always frames one); a
    response with neither has none, nor do 204, 304 and 1xx."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = bytes(buffer[:head_end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close, chunked = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = "close" in value.lower()
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
    body_start = head_end + 4
    if status in (204, 304) or status < 200:  # never a body, whatever the head says
        return Response(status, close, body_start)
    if chunked:
        body = _chunked_size(buffer, body_start)
        if body is None:
            return None
        return Response(status, close, body_start + body)
    if len(buffer) < body_start + length:
        return None
    return Response(status, close, body_start + length)


# -- the fast client ---------------------------------------------------------------------------

@dataclass
class _Connection:
    sock: socket.socket
    kind: str = ""  # the kind of the request in flight ("": none)
    outbox: bytearray = field(default_factory=bytearray)
    inbox: bytearray = field(default_factory=bytearray)
    sent_at: float = 0.0


@dataclass
class _KeepAliveClient:
    """One process's share: ``connections`` keep-alive connections, a request in flight on
    each, all driven from one ``selectors`` loop."""

    port: int
    stream: Iterator[Request]
    connections: int
    progress: Progress
    tally: Tally = field(default_factory=Counter)
    answered: int = 0
    selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)

    def _count(self, kind: str, status: int) -> None:
        self.tally[(kind, status)] += 1
        self.answered += 1
        if self.answered % PROGRESS_EVERY == 0:
            self.progress(PROGRESS_EVERY)

    def _open(self) -> _Connection:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=STALL_SECONDS)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        connection = _Connection(sock)
        self.selector.register(sock, selectors.EVENT_READ, connection)
        return connection

    def _next_request(self) -> tuple[str, bytes] | None:
        """The next sendable request's kind and bytes (unsendable ones are counted on the
        way), None when the stream is done."""
        for request in self.stream:
            wire = encode(request, f"127.0.0.1:{self.port}")
            if wire is not None:
                return request.kind, wire
            self._count(request.kind, UNSENDABLE)
        return None

    def _send(self, connection: _Connection, kind: str, wire: bytes) -> None:
        connection.kind, connection.sent_at = kind, time.monotonic()
        connection.outbox += wire
        self._flush(connection)

    def _send_next(self, connection: _Connection) -> bool:
        """Put the next request on ``connection``; False when the stream is done."""
        upcoming = self._next_request()
        if upcoming is not None:
            self._send(connection, *upcoming)
        return upcoming is not None

    def _flush(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.outbox)
        except BlockingIOError:
            sent = 0
        except OSError:  # reset by the server: the read side will see it
            sent = len(connection.outbox)
        del connection.outbox[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if connection.outbox else 0)
        self.selector.modify(connection.sock, events, connection)

    def _retire(self, connection: _Connection) -> None:
        """Close ``connection``; a request still in flight on it gets ``NO_ANSWER``."""
        self.selector.unregister(connection.sock)
        connection.sock.close()
        if connection.kind:
            self._count(connection.kind, NO_ANSWER)
            connection.kind = ""

    def _receive(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._retire(connection)
            self._replace()
            return
        connection.inbox += data
        response = parse_response(connection.inbox) if connection.kind else None
        if response is None:
            return
        del connection.inbox[:response.size]
        self._count(connection.kind, response.status)
        connection.kind = ""
        if response.close:
            self._retire(connection)
            self._replace()
        elif not self._send_next(connection):
            self._retire(connection)

    def _replace(self) -> None:
        """A new connection for the next request.  While none can be opened (the server is
        gone), each request that would have gone gets ``NO_ANSWER``: the run still ends, with
        every request counted."""
        while (upcoming := self._next_request()) is not None:
            try:
                connection = self._open()
            except OSError:
                self._count(upcoming[0], NO_ANSWER)
                continue
            self._send(connection, *upcoming)
            return

    def run(self) -> Tally:
        for _ in range(self.connections):
            self._replace()
        while self.selector.get_map():
            for key, events in self.selector.select(timeout=1.0):
                if events & selectors.EVENT_WRITE:
                    self._flush(key.data)
                if events & selectors.EVENT_READ and key.data.sock.fileno() >= 0:
                    self._receive(key.data)
            now = time.monotonic()
            for key in list(self.selector.get_map().values()):
                if key.data.kind and now - key.data.sent_at > STALL_SECONDS:
                    self._retire(key.data)
                    self._replace()
        self.progress(self.answered % PROGRESS_EVERY)
        return self.tally


def _client_process(port: int, load: TargetLoad, seed: int, count: int, hostile_share: float,
                    connections: int,
                    counter: multiprocessing.sharedctypes.Synchronized,  # type: ignore[type-arg]
                    results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    def progress(answered: int) -> None:
        with counter.get_lock():
            counter.value += answered

    client = _KeepAliveClient(port, requests(load, seed, count, hostile_share), connections,
                              progress)
    results.put(client.run())


def run_fast(port: int, load: TargetLoad, total: int, hostile_share: float, seed: int,
             processes: int, connections: int,
             on_progress: Callable[[int], None]) -> Tally:
    """Send ``total`` requests from ``processes`` client processes (client ``i`` reads the
    stream of seed ``seed * 1000 + i``); ``on_progress(answered so far)`` is called about
    every 0.2 s while they run."""
    context = multiprocessing.get_context("fork")  # the load's lambdas are not picklable
    counter = context.Value("q", 0)
    results = context.Queue()
    workers = [context.Process(target=_client_process, daemon=True, args=(
        port, load, seed * 1000 + i, count, hostile_share, connections, counter,
        results)) for i, count in enumerate(client_shares(total, processes))]
    for worker in workers:
        worker.start()
    tally: Tally = Counter()
    received = 0
    try:
        while received < len(workers):
            try:
                tally.update(results.get(timeout=0.2))
                received += 1
            except queue.Empty:  # nobody finished in this slice
                dead = [w for w in workers if w.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a soak client process died (exit {dead[0].exitcode})")
            on_progress(counter.value)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.kill()
    return tally


# -- the simple client (the soak's first one) ---------------------------------------------------

def _simple_client(port: int, stream: Iterator[Request], tally: Tally,
                   lock: threading.Lock) -> None:
    connection: http.client.HTTPConnection | None = None
    for request in stream:
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=STALL_SECONDS)
            connection.putrequest("GET", request.path, skip_accept_encoding=True)
            for name, value in request.headers:  # as UTF-8 bytes: http.client sends them as is
                connection.putheader(name, value.encode("utf-8"))
            connection.endheaders()
            response = connection.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                connection.close()
                connection = None
        except (ValueError, UnicodeEncodeError):
            status = UNSENDABLE  # http.client refused the header: nothing went out
            _discard(connection)
            connection = None
        except (OSError, http.client.HTTPException):
            status = NO_ANSWER
            _discard(connection)
            connection = None
        with lock:
            tally[(request.kind, status)] += 1
    _discard(connection)


def _discard(connection: http.client.HTTPConnection | None) -> None:
    if connection is not None:
        connection.close()


def run_simple(port: int, load: TargetLoad, total: int, hostile_share: float, seed: int,
               threads: int, on_progress: Callable[[int], None]) -> Tally:
    """Send ``total`` requests from ``threads`` threads, one request at a time each."""
    tally: Tally = Counter()
    lock = threading.Lock()
    workers = [threading.Thread(target=_simple_client, args=(
        port, requests(load, seed * 1000 + i, count, hostile_share), tally, lock))
        for i, count in enumerate(client_shares(total, threads))]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        time.sleep(0.2)
        with lock:
            on_progress(sum(tally.values()))
    for worker in workers:
        worker.join()
    return tally
