"""Envoy bootstraps whose HTTP filters are Envoy's own (no wasm): the peers our filters are
compared with and measured against.

Each shipped filter carries its translation to Envoy's native equivalent in
``filters/<name>/native.py``, a stdlib-only module offering:

- ``http_filters(config) -> list[dict]`` — Envoy's HTTP filters (``name`` + ``typed_config``),
  in chain order, that do what ours does with ``config`` (ours as the filter's
  ``schema.json`` describes it);
- ``route_action(config) -> dict`` — fields every route's ``route`` action needs besides
  (the global rate limit's ``rate_limits``; ``{}`` for most);

both raising ``ValueError`` for a configuration Envoy's filters cannot express.  Builders here
take the ``EnvoyOptions`` of the listener/upstream (``module`` must be None) and return a full
bootstrap dict for ``meshwasm.deploy.envoy.process.start_envoy(options, config=...)``:

- ``native_bootstrap(options, name, config)`` — the native equivalent of shipped filter
  ``name`` (``jwt_authn``, ``rate_limit``, ``fault``) configured as ``config``;
- ``with_http_filter(options, http_filter)`` — any one HTTP filter before the router;
- ``lua(options, source)`` — ``envoy.filters.http.lua`` with inline Lua code.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from meshwasm.deploy.envoy.config import EnvoyOptions, bootstrap

#: The shipped filters, each in a folder of its own (not a package: loaded by path).
FILTERS = Path(__file__).resolve().parents[2] / "filters"
_LUA_TYPE = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"


@cache
def native_translation(name: str) -> ModuleType:
    """``filters/<name>/native.py``, imported once (as ``<name>_native``)."""
    path = FILTERS / name / "native.py"
    if not path.is_file():
        raise ValueError(f"filter {name!r} has no native translation ({path} is missing)")
    spec = importlib.util.spec_from_file_location(f"{name}_native", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def native_bootstrap(options: EnvoyOptions, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """A bootstrap running Envoy's own equivalent of shipped filter ``name`` set up as
    ``config``."""
    translation = native_translation(name)
    bootstrap_config = _with_http_filters(options, translation.http_filters(config))
    extra = translation.route_action(config)
    for route in _connection_manager(bootstrap_config)["route_config"]["virtual_hosts"][0][
            "routes"]:
        route["route"].update(extra)
    return bootstrap_config


def native_bootstrap_for(name: str,
                         config: dict[str, Any]) -> Callable[[EnvoyOptions], dict[str, Any]]:
    """``native_bootstrap`` as a ``replay_in_envoy(bootstrap_for=...)`` builder; translates
    ``config`` at once, so a configuration Envoy cannot express fails here."""
    translation = native_translation(name)
    translation.http_filters(config)
    return lambda options: native_bootstrap(options, name, config)


def with_http_filter(options: EnvoyOptions, http_filter: dict[str, Any]) -> dict[str, Any]:
    """``config.bootstrap(options)`` with ``http_filter`` placed before the router."""
    return _with_http_filters(options, [http_filter])


def lua(options: EnvoyOptions, source: str) -> dict[str, Any]:
    """A bootstrap with an ``envoy.filters.http.lua`` filter running ``source`` inline."""
    return with_http_filter(options, {
        "name": "envoy.filters.http.lua",
        "typed_config": {"@type": _LUA_TYPE, "default_source_code": {"inline_string": source}}})


def _with_http_filters(options: EnvoyOptions,
                       http_filters: list[dict[str, Any]]) -> dict[str, Any]:
    if options.module is not None:
        raise ValueError("native filter bootstraps take EnvoyOptions without a module")
    config = bootstrap(options)
    _connection_manager(config)["http_filters"][0:0] = http_filters
    return config


def _connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    """The HTTP connection manager of a bootstrap ``config.bootstrap`` made."""
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]
