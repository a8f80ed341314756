"""Token buckets kept in the proxy's shared data, so every worker VM draws from the same one.

Each Envoy worker runs its own VM: a bucket held in a Python object would be per worker and
multiply the limit by the worker count.  Here a bucket is one shared-data value, changed only
with compare-and-swap (read, compute, write with the version read; on a conflict read again).

The bucket model is Envoy's ``AtomicTokenBucketImpl`` (what ``local_ratelimit`` uses in 1.40):
tokens refill continuously at ``tokens_per_fill / fill_interval`` up to ``max_tokens``, and a
bucket is a single number, the moment it was (or would have been) empty.  To stay exact we keep
that moment as an integer ``E`` in units of ``ns * tokens_per_fill``: at time ``now`` (ns) the
bucket's *level* is ``now * tokens_per_fill - E`` and holds ``level / fill_interval_ns`` tokens.

Keys and eviction (shared data has no delete):

- a limit with one bucket (``path_prefix``, or the default bucket) has one fixed key;
- a limit keyed by a request value (a header, the client address, the route) owns a ring of
  ``max_keys`` slot keys, created empty when the plugin is configured.  A value's home slot is
  ``crc32(value) % max_keys``; up to ``PROBES`` slots from there are tried.  A slot stores the
  value it serves inside its shared-data value (``E`` and the value, space-separated), so a
  slot found holding another value is simply someone else's.  When every probed slot is taken,
  the one whose bucket holds the most tokens is taken over (it gets a fresh, full bucket).  A
  bucket that has refilled carries no information, so evicting it changes nothing; only a
  victim that still owed tokens gets a head start.  Memory is ``max_keys`` small values per
  limit, however many distinct clients come.

Legal in any stream callback (and in ``on_configure`` for ``prepare``).
"""

from __future__ import annotations

import binascii

from proxy_wasm import shared_data

PROBES = 4
CAS_RETRIES = 32
NS_PER_SECOND = 1_000_000_000


class Bucket:
    """The static shape of a token bucket (from the configuration)."""

    __slots__ = ("max_tokens", "per_fill", "interval_ns", "capacity", "fill_rate")

    def __init__(self, max_tokens: int, tokens_per_fill: int, interval_ns: int) -> None:
        self.max_tokens = max_tokens
        self.per_fill = tokens_per_fill
        self.interval_ns = interval_ns
        self.capacity = max_tokens * interval_ns  # the level of a full bucket
        self.fill_rate = tokens_per_fill * NS_PER_SECOND / interval_ns  # tokens per second


class Outcome:
    """What one bucket said about one request; the x-ratelimit headers come from it."""

    __slots__ = ("allowed", "bucket", "remaining", "next_token_ns")

    def __init__(self, allowed: bool, bucket: Bucket, remaining: int, next_token_ns: int) -> None:
        self.allowed = allowed
        self.bucket = bucket
        self.remaining = remaining
        self.next_token_ns = next_token_ns

    def reset_seconds(self) -> int:
        """Seconds until the next token, rounded up (Envoy's ``x-ratelimit-reset``; 0 when a
        token is there)."""
        return -(-self.next_token_ns // NS_PER_SECOND)

    def retry_after_seconds(self) -> int:
        """``retry-after``: seconds until a token is back, rounded up, at least 1."""
        return max(1, -(-self.next_token_ns // NS_PER_SECOND))


def take(bucket: Bucket, stored_e: int | None, now_ns: int) -> tuple[int, Outcome]:
    """Try to take one token.  ``stored_e`` None means a fresh (full) bucket.

    Returns the new ``E`` to store (unchanged when refused) and the outcome.
    """
    scaled_now = now_ns * bucket.per_fill
    level = bucket.capacity if stored_e is None else min(bucket.capacity, scaled_now - stored_e)
    interval = bucket.interval_ns
    if level < interval:  # less than one token
        wait = -(-(interval - max(level, 0)) // bucket.per_fill)
        e = scaled_now - level if stored_e is None else stored_e
        return e, Outcome(False, bucket, 0, wait)
    level -= interval
    remaining = level // interval
    wait = 0 if level >= interval else -(-(interval - level) // bucket.per_fill)
    return scaled_now - level, Outcome(True, bucket, remaining, wait)


def _read(key: str) -> tuple[bytes | None, int]:
    return shared_data.get(key)


class Conflict(Exception):
    """Compare-and-swap kept failing (another worker wrote the key every time)."""


def take_fixed(key: str, bucket: Bucket, now_ns: int) -> Outcome:
    """One token from the bucket stored at ``key`` (created by ``prepare_fixed``)."""
    for _ in range(CAS_RETRIES):
        value, cas = _read(key)
        stored = int(value) if value else None
        new_e, outcome = take(bucket, stored, now_ns)
        if stored == new_e or shared_data.set(key, b"%d" % new_e, cas):
            return outcome
    raise Conflict(key)


def prepare_fixed(key: str) -> None:
    """Create ``key`` empty (meaning: a full bucket) unless some VM already did."""
    if _read(key)[0] is None:
        shared_data.set(key, b"")


class Ring:
    """The bounded set of buckets of one keyed limit (see the module docstring)."""

    __slots__ = ("prefix", "size")

    def __init__(self, prefix: str, size: int) -> None:
        self.prefix = prefix
        self.size = size

    def prepare(self) -> None:
        """Create every slot (so later writes are all compare-and-swap).  In ``on_configure``."""
        for index in range(self.size):
            prepare_fixed(f"{self.prefix}{index}")

    def take(self, bucket: Bucket, value: str, now_ns: int) -> tuple[Outcome, bool]:
        """One token from ``value``'s bucket; also says whether a slot was taken over."""
        wanted = value.encode("utf-8", "surrogateescape")
        home = binascii.crc32(wanted) % self.size
        for _ in range(CAS_RETRIES):
            slot, stored, cas, evicted = self._find(bucket, wanted, home, now_ns)
            new_e, outcome = take(bucket, stored, now_ns)
            if stored == new_e and not evicted:
                return outcome, False
            if shared_data.set(slot, b"%d %s" % (new_e, wanted), cas):
                return outcome, evicted
        raise Conflict(f"{self.prefix}{home}")

    def _find(self, bucket: Bucket, wanted: bytes, home: int,
              now_ns: int) -> tuple[str, int | None, int, bool]:
        """The slot serving ``wanted``: (key, its E or None for fresh, cas, taken over?)."""
        victim: tuple[str, int] | None = None
        victim_level = -1
        scaled_now = now_ns * bucket.per_fill
        for step in range(min(PROBES, self.size)):
            key = f"{self.prefix}{(home + step) % self.size}"
            value, cas = _read(key)
            if not value:
                return key, None, cas, False  # free slot
            stored, _, owner = value.partition(b" ")
            if owner == wanted:
                return key, int(stored), cas, False
            level = scaled_now - int(stored)
            if level > victim_level:
                victim, victim_level = (key, cas), level
        assert victim is not None
        return victim[0], None, victim[1], True
