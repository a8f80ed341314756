"""A chain of plugins in the order Istio puts WasmPlugins into Envoy's HTTP filter chain.

Istio's rules (``extensions.v1alpha1.WasmPlugin``, istio/api ``wasm.proto``):

- ``phase``: ``AUTHN`` plugins go before Istio's authentication filters, ``AUTHZ`` after them
  and before its authorization filters, ``STATS`` after those and before its stats filters;
  a plugin without a phase (``UNSPECIFIED_PHASE``) goes at the end of the chain, right
  before the router.  So the order is AUTHN, AUTHZ, STATS, then unspecified.
- ``priority``: within a phase, higher priority first (default 0); equal priorities are
  ordered deterministically by namespace and name.
- ``match``: a plugin applies to a traffic flow when any of its selectors accepts it (no
  selector: every flow); a selector's ``mode`` (``CLIENT`` = outbound, ``SERVER`` = inbound,
  ``CLIENT_AND_SERVER`` or unset = both) and ``ports`` (the destination port; none: any).
  A replay stands for inbound traffic (a sidecar's ``SERVER`` side) to the port named by
  ``destination_port``.
- ``failStrategy``: ``FAIL_CLOSE`` / ``FAIL_OPEN`` / ``FAIL_RELOAD`` become Envoy's
  ``failure_policy`` (``meshwasm.failure_policy``; Istio spells the closed one FAIL_CLOSE).

A manifest's ``url`` may be a local path (relative to the manifest's folder), ``file://``
(absolute, as in the proxy's container) or ``oci://`` (pulled with ``meshwasm pull``'s
checks into ``pull_dir``).  ``http(s)://`` urls are refused: a replay does not download
modules from the web.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshwasm.deploy.istio.wasmplugin import validate_manifest
from meshwasm.failure_policy import FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD

#: Istio's phases in filter-chain order; a plugin without one goes last (before the router).
PHASE_ORDER = ("AUTHN", "AUTHZ", "STATS", "UNSPECIFIED_PHASE")
_FAIL_STRATEGIES = {"FAIL_CLOSE": FAIL_CLOSED, "FAIL_OPEN": FAIL_OPEN,
                    "FAIL_RELOAD": FAIL_RELOAD}
_INBOUND_MODES = ("UNDEFINED", "SERVER", "CLIENT_AND_SERVER")


class ChainError(ValueError):
    """A chain cannot be built: names the manifest and the field."""


@dataclass(frozen=True)
class ChainPlugin:
    """One plugin of a chain: a module (or, for the source engine, a filter's ``.py``) and
    how Istio would configure it."""

    name: str  # the WasmPlugin's metadata.name, or the module file's stem
    module: Path
    #: the plugin configuration bytes (JSON of ``pluginConfig``); None: the traffic file's
    plugin_config: bytes | None = None
    phase: str = "UNSPECIFIED_PHASE"
    priority: int = 0
    #: Envoy's failure_policy for this plugin; None: the replay's --fail-* switch
    failure_policy: str | None = None
    namespace: str = ""
    root_id: str = ""  # the manifest's pluginName (Envoy's root_id)
    match: tuple[dict[str, Any], ...] = ()
    declared_in: str = ""  # the manifest file, for messages
    order: int = field(default=0, compare=False)  # position given on the command line

    def applies_to_inbound(self, port: int) -> bool:
        """Whether Istio puts this plugin on an inbound listener for ``port``."""
        if not self.match:
            return True
        for selector in self.match:
            mode = selector.get("mode") or "UNDEFINED"
            ports = [entry.get("number") for entry in selector.get("ports") or []]
            if mode in _INBOUND_MODES and (not ports or port in ports):
                return True
        return False


def istio_order(plugins: Iterable[ChainPlugin]) -> list[ChainPlugin]:
    """The plugins in Istio's filter-chain order (see the module docstring).  Plain modules
    (no manifest) keep the order they were given in, as unspecified-phase plugins of equal
    priority would not: their names are their stems, so the command line decides."""
    return sorted(plugins, key=lambda plugin: (
        PHASE_ORDER.index(plugin.phase), -plugin.priority,
        (plugin.namespace, plugin.name) if plugin.declared_in else ("", ""), plugin.order))


def plain_chain(modules: Iterable[Path]) -> list[ChainPlugin]:
    """Modules given as files: a chain in the order given, named by file stem."""
    chain = [ChainPlugin(name=Path(module).stem, module=Path(module), order=index)
             for index, module in enumerate(modules)]
    names = [plugin.name for plugin in chain]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ChainError(f"two plugins of the chain are named {duplicates[0]!r} (a plugin is "
                         "named by its file's stem): rename one of the files")
    return chain


def load_wasmplugin(path: Path, order: int = 0, pull_dir: Path | None = None,
                    source_module: bool = False) -> ChainPlugin:
    """The ``ChainPlugin`` a WasmPlugin manifest describes.  Raises ``ChainError`` naming the
    file and the field when the manifest is not one the API server would accept, or its
    module cannot be found.  ``source_module`` (the source engine): a url ``NAME.wasm`` with
    a filter ``NAME.py`` beside it runs that filter from source."""
    path = Path(path)
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ChainError(f"{path}: cannot read the WasmPlugin manifest: "
                         f"{error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ChainError(f"{path}: not YAML: {error}") from None
    errors = validate_manifest(manifest)
    if errors:
        raise ChainError(f"{path} is not a valid WasmPlugin:\n"
                         + "\n".join(f"  {line}" for line in errors))
    spec, metadata = manifest["spec"], manifest["metadata"]
    if spec.get("type") == "NETWORK":
        raise ChainError(f"{path}: spec.type NETWORK: a replay runs HTTP plugins only")
    module = _module_of(path, str(spec["url"]), pull_dir, source_module)
    config = spec.get("pluginConfig")
    return ChainPlugin(
        name=str(metadata["name"]), namespace=str(metadata.get("namespace") or ""),
        module=module,
        plugin_config=None if config is None else json.dumps(config).encode(),
        phase=spec.get("phase") or "UNSPECIFIED_PHASE",
        priority=int(spec.get("priority") or 0),
        failure_policy=_FAIL_STRATEGIES[spec["failStrategy"]] if spec.get("failStrategy")
        else None,
        root_id=str(spec.get("pluginName") or ""),
        match=tuple(spec.get("match") or ()), declared_in=str(path), order=order)


def _module_of(manifest: Path, url: str, pull_dir: Path | None, source_module: bool) -> Path:
    """The local module file a WasmPlugin's ``url`` names (pulled first for ``oci://``)."""
    if url.startswith(("http://", "https://")):
        raise ChainError(f"{manifest}: spec.url {url!r}: a replay does not download modules "
                         "over http(s); use a local path, file:// or oci://")
    if url.startswith("oci://") or ("://" not in url and not url.endswith(".wasm")
                                    and ":" in url.split("/")[-1]):
        return _pulled(manifest, url, pull_dir)
    local = Path(url[len("file://"):]) if url.startswith("file://") else Path(url)
    if not local.is_absolute():
        local = manifest.resolve().parent / local
    if source_module and local.suffix == ".wasm" and local.with_suffix(".py").is_file():
        return local.with_suffix(".py")
    if not local.is_file():
        raise ChainError(f"{manifest}: spec.url {url!r}: no module at {local}")
    return local


def _pulled(manifest: Path, url: str, pull_dir: Path | None) -> Path:
    from meshwasm.deploy.oci.transfer import ImageError, RegistryError, pull
    if pull_dir is None:
        raise ChainError(f"{manifest}: spec.url {url!r}: an oci:// module needs a folder to "
                         "pull it into")
    reference = url[len("oci://"):] if url.startswith("oci://") else url
    output = pull_dir / f"{manifest.stem}.wasm"
    try:
        pull(reference, output)
    except (ImageError, RegistryError, ValueError, OSError) as error:
        raise ChainError(f"{manifest}: spec.url {url!r}: cannot pull it: {error}") from None
    return output
