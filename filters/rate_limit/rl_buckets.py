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

``E`` is stored in hexadecimal: it is a large number (``ns * tokens_per_fill``) and decimal
conversions of it were a visible part of a request's cost.  A request does one shared-data
read and, when it took a token, one compare-and-swap write.

Legal in any stream callback (and in ``on_configure`` for ``prepare``).
"""

from __future__ import annotations

import binascii

from proxy_wasm import shared_data

PROBES = 4
CAS_RETRIES = 32
ATTEMPTS = range(CAS_RETRIES)  # (built once: iterating it is cheaper than calling range)
NS_PER_SECOND = 1_000_000_000
MAX_REMEMBERED = 4096  # values whose encoding and home slot a Ring keeps


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
    """What one bucket said about one request; the x-ratelimit headers come from it.

    ``left`` is the bucket's level after the take (``level - interval``, in the units of
    ``E``): the request got a token when it is not negative."""

    __slots__ = ("bucket", "left")

    def __init__(self, bucket: Bucket, left: int) -> None:
        self.bucket = bucket
        self.left = left

    @property
    def allowed(self) -> bool:
        return self.left >= 0

    @property
    def remaining(self) -> int:
        """Whole tokens left."""
        return self.left // self.bucket.interval_ns if self.left >= 0 else 0

    @property
    def next_token_ns(self) -> int:
        """Nanoseconds until the bucket holds a token again (0: it does now)."""
        left, interval = self.left, self.bucket.interval_ns
        missing = interval - left if left >= 0 else min(-left, interval)
        return 0 if missing <= 0 else -(-missing // self.bucket.per_fill)

    def reset_seconds(self) -> int:
        """Seconds until the next token, rounded up (Envoy's ``x-ratelimit-reset``; 0 when a
        token is there)."""
        return -(-self.next_token_ns // NS_PER_SECOND)

    def retry_after_seconds(self) -> int:
        """``retry-after``: seconds until a token is back, rounded up, at least 1."""
        return max(1, -(-self.next_token_ns // NS_PER_SECOND))


def take(bucket: Bucket, stored_e: int | None, now_ns: int) -> tuple[int, int]:
    """Try to take one token.  ``stored_e`` None means a fresh (full) bucket.

    Returns the ``E`` to store (unchanged when refused) and the level left (``Outcome.left``:
    negative when refused).  Plain numbers: an ``Outcome`` is only built when needed.
    """
    scaled_now = now_ns * bucket.per_fill
    if stored_e is None:
        left = bucket.capacity - bucket.interval_ns
        return scaled_now - bucket.capacity + (bucket.interval_ns if left >= 0 else 0), left
    level = scaled_now - stored_e
    if level > bucket.capacity:
        level = bucket.capacity
    left = level - bucket.interval_ns
    return (scaled_now - left if left >= 0 else stored_e), left


def encode(e: int) -> bytes:
    return b"%x" % e


class Conflict(Exception):
    """Compare-and-swap kept failing (another worker wrote the key every time)."""


def take_fixed(key: str, bucket: Bucket, now_ns: int) -> int:
    """One token from the bucket stored at ``key`` (created by ``prepare_fixed``); returns
    the level left (``Outcome.left``)."""
    for _ in ATTEMPTS:
        value, cas = shared_data.get(key)
        stored = int(value, 16) if value else None
        new_e, left = take(bucket, stored, now_ns)
        if stored == new_e or shared_data.set(key, encode(new_e), cas):
            return left
    raise Conflict(key)


def prepare_fixed(key: str) -> None:
    """Create ``key`` empty (meaning: a full bucket) unless some VM already did."""
    if shared_data.get(key)[0] is None:
        shared_data.set(key, b"")


class Ring:
    """The bounded set of buckets of one keyed limit (see the module docstring)."""

    __slots__ = ("prefix", "size", "keys", "_homes")

    def __init__(self, prefix: str, size: int) -> None:
        self.prefix = prefix
        self.size = size
        self.keys = [f"{prefix}{index}" for index in range(size)]  # built once, not per request
        # value -> (its bytes, its home slot): a client comes back, and hashing is not free
        self._homes: dict[str, tuple[bytes, int]] = {}

    def prepare(self) -> None:
        """Create every slot (so later writes are all compare-and-swap).  In ``on_configure``."""
        for key in self.keys:
            prepare_fixed(key)

    def take(self, bucket: Bucket, value: str, now_ns: int) -> tuple[int, bool]:
        """One token from ``value``'s bucket: the level left (``Outcome.left``) and whether a
        slot was taken over."""
        known = self._homes.get(value)
        if known is None:
            known = self._home(value)
        wanted, home = known
        for _ in ATTEMPTS:
            # The home slot serving ``wanted`` (or free) is the usual case: no probing.
            key = self.keys[home]
            found, cas = shared_data.get(key)
            evicted = False
            if not found:
                stored = None
            else:
                head, _, owner = found.partition(b" ")
                if owner == wanted:
                    stored = int(head, 16)
                else:
                    key, stored, cas, evicted = self._probe(bucket, wanted, home, cas,
                                                            int(head, 16), now_ns)
            new_e, left = take(bucket, stored, now_ns)
            if stored == new_e and not evicted:
                return left, False
            if shared_data.set(key, b"%x %s" % (new_e, wanted), cas):
                return left, evicted
        raise Conflict(f"{self.prefix}{home}")

    def _home(self, value: str) -> tuple[bytes, int]:
        homes = self._homes
        if len(homes) >= MAX_REMEMBERED:
            homes.clear()
        wanted = value.encode("utf-8", "surrogateescape")
        known = homes[value] = wanted, binascii.crc32(wanted) % self.size
        return known

    def _probe(self, bucket: Bucket, wanted: bytes, home: int, home_cas: int, home_e: int,
               now_ns: int) -> tuple[str, int | None, int, bool]:
        """The slot serving ``wanted`` when its home slot serves another value (``home_e``):
        (key, its E or None for fresh, cas, taken over?).  The victim, when every probed slot
        is taken, is the first of the fullest."""
        scaled_now = now_ns * bucket.per_fill
        victim, victim_cas, victim_level = self.keys[home], home_cas, scaled_now - home_e
        for step in range(1, min(PROBES, self.size)):
            key = self.keys[(home + step) % self.size]
            value, cas = shared_data.get(key)
            if not value:
                return key, None, cas, False  # free slot
            stored, _, owner = value.partition(b" ")
            if owner == wanted:
                return key, int(stored, 16), cas, False
            level = scaled_now - int(stored, 16)
            if level > victim_level:
                victim, victim_cas, victim_level = key, cas, level
        return victim, None, victim_cas, True
