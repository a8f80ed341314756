"""Data files shipped with a filter (``*.json`` beside ``filter.py``), e.g. its ``schema.json``.

Inside a compiled module there is no filesystem: ``meshwasm build`` embeds those files into a
generated module.  Everywhere else (the harness's source mode, unit tests) they are read from
the folder of the module that calls ``read`` (legal at import time too).
"""

from __future__ import annotations

import sys


def read(name: str) -> bytes:
    """The bytes of ``name`` (a file beside the filter).  Raises ``FileNotFoundError``."""
    try:
        import _meshwasm_resources  # type: ignore[import-not-found]  # made by meshwasm build
    except ImportError:
        caller = sys._getframe(1).f_globals.get("__file__")
        return _read_beside(caller, name)
    try:
        data: bytes = _meshwasm_resources.RESOURCES[name]
        return data
    except KeyError:
        raise FileNotFoundError(f"{name} was not beside the filter when it was built "
                                f"(embedded: {sorted(_meshwasm_resources.RESOURCES)})") from None


def _read_beside(location: str | None, name: str) -> bytes:
    """Read ``name`` from the folder of the module file ``location`` (the caller's)."""
    if location is None:
        raise FileNotFoundError(f"{name}: the calling module has no file to look beside")
    import os.path

    with open(os.path.join(os.path.dirname(location), name), "rb") as stream:
        return stream.read()
