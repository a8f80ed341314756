"""Header maps behave as Envoy's HeaderMapImpl; the pairs encoding round-trips."""

from __future__ import annotations

import struct

from meshwasm.harness.headers import (
    REQUEST_INLINE, RESPONSE_INLINE, HeaderMap, decode_pairs, encode_pairs,
)


def test_keys_are_lower_cased_and_lookups_ignore_case() -> None:
    headers = HeaderMap([(b"X-User", b"Alice")])
    assert headers.pairs() == [(b"x-user", b"Alice")]
    assert headers.get(b"X-USER") == b"Alice"
    assert headers.get(b"x-other") is None


def test_pseudo_headers_stay_in_front() -> None:
    headers = HeaderMap([(b"x-a", b"1"), (b":path", b"/")], inline=REQUEST_INLINE)
    headers.add(b":method", b"GET")
    headers.add(b"x-b", b"2")
    assert [k for k, _ in headers.pairs()] == [b":path", b":method", b"x-a", b"x-b"]


def test_adding_an_inline_header_twice_joins_values_with_a_comma() -> None:
    headers = HeaderMap(inline=RESPONSE_INLINE)
    headers.add(b"content-type", b"text/plain")
    headers.add(b"content-type", b"charset=utf-8")
    headers.add(b"x-custom", b"1")
    headers.add(b"x-custom", b"2")
    assert headers.pairs() == [(b"content-type", b"text/plain,charset=utf-8"),
                               (b"x-custom", b"1"), (b"x-custom", b"2")]
    assert headers.get(b"x-custom") == b"1"  # get answers the first value only
    assert headers.get_all(b"x-custom") == [b"1", b"2"]


def test_replace_removes_every_value_then_appends_one() -> None:
    headers = HeaderMap([(b"x-a", b"1"), (b"x-b", b"2"), (b"x-a", b"3")])
    headers.replace(b"X-A", b"new")
    assert headers.pairs() == [(b"x-b", b"2"), (b"x-a", b"new")]
    headers.replace(b"x-missing", b"v")  # replacing an absent header adds it
    assert headers.get(b"x-missing") == b"v"


def test_remove_and_set_pairs() -> None:
    headers = HeaderMap([(b"x-a", b"1"), (b"x-a", b"2"), (b"x-b", b"3")])
    headers.remove(b"x-a")
    headers.remove(b"x-absent")
    assert headers.pairs() == [(b"x-b", b"3")]
    headers.set_pairs([(b"Y", b"1"), (b":status", b"200")])
    assert headers.pairs() == [(b":status", b"200"), (b"y", b"1")]


def test_byte_size_is_the_sum_of_key_and_value_lengths() -> None:
    headers = HeaderMap([(b":path", b"/abc"), (b"x-y", b"z")])
    assert headers.byte_size() == 5 + 4 + 3 + 1
    assert len(headers) == 2


def test_pairs_encoding_layout_and_round_trip() -> None:
    pairs = [(b"a", b"bc"), (b"", b"")]
    data = encode_pairs(pairs)
    assert data[:20] == struct.pack("<5I", 2, 1, 2, 0, 0)
    assert data[20:] == b"a\0bc\0\0\0"
    assert decode_pairs(data) == pairs
    assert encode_pairs([]) == b"" and decode_pairs(b"") == []


def test_malformed_pairs_are_refused() -> None:
    assert decode_pairs(b"\x01\x00") is None
    assert decode_pairs(struct.pack("<3I", 1, 10, 10) + b"short") is None
