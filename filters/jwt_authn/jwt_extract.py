"""Where a token is read from: headers (with a value prefix such as ``Bearer ``), query
parameters and cookies, as Envoy's jwt_authn extractor reads them.

Legal in ``on_request_headers`` (and later request callbacks): every read is a host call on
the current stream's request headers.
"""

from __future__ import annotations

from proxy_wasm import HttpContext

# The characters of a compact JWS (base64url and the dots; not "=").  After the value prefix,
# Envoy skips characters outside this set and takes the rest of the value from the first one
# inside it (later characters, a space or a non-ASCII byte included, stay in the token and make
# it fail to parse); with no such character it takes the whole header value.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _token_after(value: str, start: int) -> str:
    length = len(value)
    while start < length and value[start] not in _TOKEN_CHARS:
        start += 1
    return value if start == length else value[start:]


def _unquote(text: str) -> str:
    """Percent-decoding for query values (``+`` stays, as in a path)."""
    if "%" not in text:
        return text
    out = bytearray()
    index = 0
    raw = text.encode("utf-8", "surrogateescape")
    while index < len(raw):
        if raw[index] == 0x25 and _hex(raw[index + 1:index + 3]):
            out.append(int(raw[index + 1:index + 3], 16))
            index += 3
        else:
            out.append(raw[index])
            index += 1
    return out.decode("utf-8", "replace")


def _hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def query_param(path: str, name: str) -> str | None:
    """The first value of query parameter ``name`` in ``path``."""
    _, question, query = path.partition("?")
    if not question:
        return None
    for pair in query.split("#", 1)[0].split("&"):
        key, _, value = pair.partition("=")
        if _unquote(key) == name:
            return _unquote(value)
    return None


def cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``cookie`` header (quotes removed)."""
    for part in header.split(";"):
        key, equals, value = part.strip().partition("=")
        if equals and key == name:
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


#: A token and where it came from: (token, kind, name), kind being header, param or cookie.
#: (A plain tuple: creating an instance of a class costs several times more per request.)
Found = tuple[str, str, str]


def extract(values: list[str | None], index: dict[str, int], path: str,
            headers: list[tuple[str, str]], params: list[str],
            cookies: list[str]) -> list[Found]:
    """Every token the request carries, in Envoy's order: headers, then parameters, then
    cookies (each group in the order the provider lists them; ``jwt_config`` sorts them as
    Envoy's maps do).  Envoy requires all of them to verify.  ``values[index[name]]`` is
    the value of request header ``name`` (lower case; None when absent)."""
    found = []
    for name, prefix in headers:
        value = values[index[name]]
        if value is None:
            continue
        if prefix:
            # (partition takes one argument: cheaper than find's parsing in CPython 3.11)
            head, has_prefix, rest = value.partition(prefix)
            if not has_prefix:
                continue
            if rest and rest[0] in _TOKEN_CHARS:
                value = rest  # the usual "Bearer <token>"
            else:
                value = _token_after(value, len(head) + len(prefix))
        found.append((value, "header", name))
    if "?" in path:  # (no query: no parameter to look for)
        for name in params:
            value = query_param(path, name)
            if value is not None:
                found.append((value, "param", name))
    if cookies:
        header = values[index["cookie"]]
        if header:
            for name in cookies:
                value = cookie(header, name)
                if value is not None:
                    found.append((value, "cookie", name))
    return found


def strip(stream: HttpContext, found: Found) -> None:
    """Remove the token from the request before it goes upstream (``forward: false``).

    A header is removed whole and a query parameter dropped from ``:path``, as Envoy does;
    a cookie is left alone.
    """
    _, kind, name = found
    if kind == "header":
        stream.request_headers.remove(name)
    elif kind == "param":
        path = stream.request_headers.get(":path") or "/"
        stream.request_headers.set(":path", without_param(path, name))


def without_param(path: str, name: str) -> str:
    """``path`` without any ``name=...`` pair in its query (and without ``?`` if none is left)."""
    base, question, query = path.partition("?")
    if not question:
        return path
    kept = [pair for pair in query.split("&") if _unquote(pair.partition("=")[0]) != name]
    return f"{base}?{'&'.join(kept)}" if kept else base
