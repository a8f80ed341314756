"""A live view of one of the proxy's header maps.

Every method is a host call on the current stream: legal only inside the callbacks where that
map exists (request headers from ``on_request_headers`` on, response headers from
``on_response_headers`` on, trailers in their own callbacks).  Names are case-insensitive;
Envoy stores them lower-case.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module

from . import _hostcalls
from .types import MapType

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import TypeVar, overload

    Default = TypeVar("Default")


class _PythonHeaderMapBase:
    """The methods that are host calls, in Python: used outside a compiled module.  Inside
    one, ``_proxy_wasm_abi.HeaderMapBase`` has the same methods in C (each saves an
    interpreter entry per call on the request path).

    (Documented in the API reference, being where ``HeaderMap``'s methods are: @public)"""

    __slots__ = ("_map",)

    def __init__(self, map_type: int) -> None:
        self._map = int(map_type)

    if TYPE_CHECKING:  # without a default: str | None; with one: str | type of the default
        @overload
        def get(self, name: str) -> str | None: ...

        @overload
        def get(self, name: str, default: Default) -> str | Default: ...

    def get(self, name: str, default: Default | None = None) -> str | Default | None:
        """The value of ``name`` (the first, if repeated), or ``default`` (None unless
        given)."""
        value = _hostcalls.abi.get_header(self._map, name)
        return default if value is None else value

    def set(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with ``value`` (adds it when absent)."""
        _hostcalls.abi.replace_header(self._map, name, value)

    def add(self, name: str, value: str) -> None:
        """Append a value, keeping existing ones (a repeated header)."""
        _hostcalls.abi.add_header(self._map, name, value)

    def remove(self, name: str) -> None:
        """Remove every value of ``name``; absent names are fine."""
        _hostcalls.abi.remove_header(self._map, name)

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) pairs in order, pseudo-headers (``:path``…) included."""
        return _hostcalls.abi.get_headers(self._map)

    def get_many(self, *names: str) -> tuple[str | None, ...]:
        """The value of each of ``names`` (the first, if repeated; None when absent), read
        with one host call: cheaper than several ``get`` calls when a filter needs several
        headers (one host call fetches the whole map)."""
        found: list[str | None] = [None] * len(names)
        wanted = [name.lower() for name in names]
        for key, value in self.items():
            key = key.lower()
            for index, name in enumerate(wanted):
                if found[index] is None and name == key:
                    found[index] = value
        return tuple(found)


if TYPE_CHECKING:
    _HeaderMapBase = _PythonHeaderMapBase
else:
    try:
        from _proxy_wasm_abi import HeaderMapBase as _HeaderMapBase
    except ImportError:
        _HeaderMapBase = _PythonHeaderMapBase


class HeaderMap(_HeaderMapBase):
    """Header map of one kind (``MapType``) on the current stream; see the module doc."""

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        self.remove(name)

    def replace_all(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Replace the whole map with ``pairs``."""
        _hostcalls.abi.set_headers(self._map, list(pairs))

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _ in self.items()])

    def __repr__(self) -> str:
        return f"HeaderMap({MapType(self._map).name})"


REQUEST_HEADERS = HeaderMap(MapType.REQUEST_HEADERS)
REQUEST_TRAILERS = HeaderMap(MapType.REQUEST_TRAILERS)
RESPONSE_HEADERS = HeaderMap(MapType.RESPONSE_HEADERS)
RESPONSE_TRAILERS = HeaderMap(MapType.RESPONSE_TRAILERS)
