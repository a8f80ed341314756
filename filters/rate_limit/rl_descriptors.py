"""Rate-limit descriptors built from a request as Envoy's route ``rate_limits`` actions build
them, for the global mode's ``RateLimitRequest``.

Each configured ``rate_limits`` entry is a list of actions; each action adds one entry
(key, value) to that entry's descriptor.  As in Envoy, an action that cannot produce its
entry (a ``request_headers`` header that is absent, a ``header_value_match`` that does not
match) drops the whole descriptor, unless it says ``skip_if_absent`` (then only its entry is
left out); a descriptor left with no entries is not sent.
"""

from __future__ import annotations

from proxy_wasm import properties

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from typing import Any, Callable

    #: reads one request header (None when absent)
    HeaderReader = Callable[[str], str | None]

Entry = tuple[str, str]
Descriptor = tuple[Entry, ...]

_SKIP = object()  # an action's entry is left out, the descriptor still sent


def host_of(address: str) -> str:
    """The IP of ``ip:port`` or ``[ipv6]:port`` (what Envoy's ``remote_address`` action
    gives)."""
    if address.startswith("["):
        return address[1:address.find("]")]
    head, colon, port = address.rpartition(":")
    return head if colon and port.isdigit() and ":" not in head else address


class Action:
    """One configured action: ``entry(headers)`` is its (key, value), None when the
    descriptor must be dropped, ``_SKIP`` when only this entry is left out."""

    __slots__ = ("kind", "key", "value", "header", "skip_if_absent", "matchers",
                 "expect_match")

    def __init__(self, spec: dict[str, Any]) -> None:
        [(kind, options)] = spec.items()
        self.kind: str = kind
        self.header = ""
        self.skip_if_absent = False
        self.matchers: list[tuple[str, str, str]] = []  # (header, "exact"|"prefix", text)
        self.expect_match = True
        self.value = ""
        if kind == "generic_key":
            self.key = options.get("descriptor_key", "generic_key")
            self.value = options["descriptor_value"]
        elif kind == "request_headers":
            self.key = options["descriptor_key"]
            self.header = options["header_name"].lower()
            self.skip_if_absent = options.get("skip_if_absent", False)
        elif kind == "remote_address":
            self.key = "remote_address"
        else:  # header_value_match
            self.key = options.get("descriptor_key", "header_match")
            self.value = options["descriptor_value"]
            self.expect_match = options.get("expect_match", True)
            for matcher in options["headers"]:
                how = "exact" if "exact" in matcher else "prefix"
                self.matchers.append((matcher["name"].lower(), how, matcher[how]))

    def entry(self, read: HeaderReader) -> Entry | object | None:
        kind = self.kind
        if kind == "generic_key":
            return self.key, self.value
        if kind == "request_headers":
            found = read(self.header)
            if found is None:
                return _SKIP if self.skip_if_absent else None
            return self.key, found
        if kind == "remote_address":
            return self.key, host_of(properties.get_str("source", "address") or "")
        matched = all(_matches(read(name), how, text) for name, how, text in self.matchers)
        return (self.key, self.value) if matched == self.expect_match else None


def _matches(found: str | None, how: str, text: str) -> bool:
    if found is None:
        return False
    return found == text if how == "exact" else found.startswith(text)


def build(rate_limits: list[list[Action]], read: HeaderReader) -> list[Descriptor]:
    """The descriptors of one request, in configuration order."""
    descriptors: list[Descriptor] = []
    for actions in rate_limits:
        entries: list[Entry] = []
        for action in actions:
            entry = action.entry(read)
            if entry is None:
                break
            if entry is not _SKIP:
                entries.append(entry)  # type: ignore[arg-type]
        else:
            if entries:
                descriptors.append(tuple(entries))
    return descriptors
