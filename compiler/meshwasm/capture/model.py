"""What every capture format is read into, and the error a bad capture raises."""

from __future__ import annotations

from dataclasses import dataclass

from meshwasm.replay.model import HttpRequest, UpstreamResponse


class CaptureError(ValueError):
    """A capture that cannot be read: the message names the file and the entry."""


@dataclass(frozen=True)
class CapturedExchange:
    """One request of a capture and what is known of its answer.

    ``response``: what the client received (None: not recorded); ``upstream``: what the
    upstream answered, when the capture saw it separately (``record``'s second tap);
    ``upstream_reached``: whether the request reached the upstream (None: unknown).
    """

    label: str  # where it is in the capture ("log.entries[3]", "tap_12.json"), for messages
    request: HttpRequest
    response: UpstreamResponse | None = None
    upstream: UpstreamResponse | None = None
    upstream_reached: bool | None = None
    started_ms: float | None = None  # when the request was sent (ms since the epoch)
