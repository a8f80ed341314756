"""The one rule for the bytes a filter's ``proxy_on_configure`` reads, whoever gives them.

Istio hands a WasmPlugin's ``pluginConfig`` (a mapping) to the filter as JSON text, and an
Envoy ``configuration`` StringValue as is.  Every command (``run``, ``envoy-config``,
``replay``, ``dev``, ``wasmplugin``), traffic files and the pytest fixtures go through here,
so a filter reads the same bytes in the harness, in Envoy and in a cluster:

- a mapping or a list becomes compact JSON (UTF-8, keys in the given order);
- a string goes as is (UTF-8); bytes go as is; None is no configuration (empty);
- a file named ``*.yaml``, ``*.yml`` or ``*.json`` is read as YAML (JSON is YAML) and its
  value follows the two rules above; any other file's bytes go as is (a text, a PEM key).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

#: file suffixes read as data (YAML, JSON being YAML); others are sent byte for byte
DATA_SUFFIXES = (".yaml", ".yml", ".json")


class PluginConfigError(ValueError):
    """A configuration that cannot be read or sent; the message names the file or the value."""


def config_bytes(value: Any) -> bytes:
    """The bytes the filter reads for ``value`` (a mapping, list, string, bytes or None)."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (Mapping, list, tuple, int, float)):  # bool is an int
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False, default=_not_json)
        except PluginConfigError:
            raise
        except RecursionError:
            raise PluginConfigError("plugin configuration nested too deeply to send") from None
        except ValueError as error:  # NaN/Infinity, or a circular structure
            raise PluginConfigError(f"plugin configuration is not JSON: {error}") from None
        return text.encode("utf-8")
    raise PluginConfigError(f"plugin configuration must be a mapping, a list, a string or "
                            f"bytes, not {type(value).__name__}")


def _not_json(value: Any) -> Any:
    # YAML gives dates and timestamps; Istio's Struct holds them as strings too
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise PluginConfigError(f"plugin configuration holds a {type(value).__name__} "
                            f"({value!r}), which JSON cannot carry")


def read_config_data(path: Path) -> Any:
    """The value of a YAML/JSON file (any suffix); errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PluginConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise PluginConfigError(f"{path}: not UTF-8 text ({error.reason} at byte "
                                f"{error.start})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PluginConfigError(f"{path}{line}: invalid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise PluginConfigError(f"{path}: invalid YAML: {error}") from None
    except RecursionError:
        raise PluginConfigError(f"{path}: nested too deeply to read") from None


def config_file_bytes(path: Path | str) -> bytes:
    """The bytes the filter reads for the configuration file at ``path`` (see the module's
    rules: data files by their value, other files byte for byte)."""
    path = Path(path)
    if path.suffix.lower() not in DATA_SUFFIXES:
        try:
            return path.read_bytes()
        except OSError as error:
            raise PluginConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return config_bytes(read_config_data(path))
    except PluginConfigError as error:
        message = str(error)
        raise PluginConfigError(message if message.startswith(str(path))
                                else f"{path}: {message}") from None


def as_config_bytes(value: Any) -> bytes:
    """``config_bytes``, except that a path (``pathlib.Path``/``os.PathLike``) names a file
    read by ``config_file_bytes`` (for the pytest fixtures)."""
    if isinstance(value, os.PathLike):
        return config_file_bytes(Path(value))
    return config_bytes(value)
