"""Istio ``WasmPlugin`` manifests: write one, and validate one offline as the API server would.

Validation uses Istio's own CRD (``schemas/wasmplugin-crd.yaml``, copied from istio/api with
its source noted): the structural schema and the ``x-kubernetes-validations`` CEL rules
(``crd_schema``), plus the parts every Kubernetes object must have (apiVersion served by the
CRD, kind, a DNS-1123 ``metadata.name``).  ``pluginConfig`` can also be checked against the
filter's own JSON Schema.

Facts from Istio's agent (``pkg/wasm/cache.go``) that shape the manifest: for an ``oci://``
url, ``sha256`` is compared with the image's *manifest* digest (not the module's), and an url
pinned with ``@sha256:…`` is itself checked; so we pin the url and fill ``sha256`` from it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from meshwasm.deploy.istio.crd_schema import FieldError, validate_structural

CRD_PATH = Path(__file__).resolve().parent / "schemas" / "wasmplugin-crd.yaml"
GROUP = "extensions.istio.io"
KIND = "WasmPlugin"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PINNED = re.compile(r"@sha256:([a-f0-9]{64})$")
#: groups of the kinds a targetRef usually names, when the user gives just Kind/name
KNOWN_GROUPS = {"Gateway": "gateway.networking.k8s.io", "Service": "", "ServiceEntry":
                "networking.istio.io"}


class WasmPluginError(ValueError):
    """The manifest is invalid; ``errors`` holds one line per problem, path first."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {line}" for line in errors)
        super().__init__(f"{source} is invalid:\n{lines}")


@lru_cache(maxsize=1)
def crd() -> dict[str, Any]:
    """The WasmPlugin CRD document."""
    return yaml.safe_load(CRD_PATH.read_text(encoding="utf-8"))


def served_versions() -> dict[str, dict[str, Any]]:
    """apiVersion -> openAPIV3Schema of each served version of the CRD."""
    return {f"{GROUP}/{v['name']}": v["schema"]["openAPIV3Schema"]
            for v in crd()["spec"]["versions"] if v.get("served")}


def validate_manifest(manifest: Any) -> list[str]:
    """Every reason the API server would refuse ``manifest``, as ``path: message`` lines."""
    if not isinstance(manifest, dict):
        return ["the manifest must be a mapping (a Kubernetes object)"]
    errors: list[FieldError] = []
    versions = served_versions()
    api_version = manifest.get("apiVersion")
    if manifest.get("kind") != KIND:
        errors.append(FieldError("kind", f"Unsupported value: {manifest.get('kind')!r}: "
                                         f"supported values: \"{KIND}\""))
    if api_version not in versions:
        errors.append(FieldError("apiVersion", f"Unsupported value: {api_version!r}: supported "
                                 f"values: {', '.join(repr(v) for v in versions)}"))
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        errors.append(FieldError("metadata.name", "Required value: name or generateName is "
                                                  "required"))
    else:
        name = str(metadata["name"])
        if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            errors.append(FieldError("metadata.name", f"Invalid value: \"{name}\": a lowercase "
                                     "RFC 1123 subdomain must consist of lower case alphanumeric "
                                     "characters, '-' or '.', and must start and end with an "
                                     "alphanumeric character"))
        namespace = metadata.get("namespace")
        if namespace is not None and not (isinstance(namespace, str)
                                          and _DNS_LABEL.match(namespace)):
            errors.append(FieldError("metadata.namespace", f"Invalid value: \"{namespace}\": a "
                                     "lowercase RFC 1123 label must consist of lower case "
                                     "alphanumeric characters or '-'"))
    if api_version in versions:
        body = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "metadata")}
        errors += validate_structural(body, versions[api_version])
    return [str(error) for error in errors]


def check_manifest(manifest: Any, source: str = "WasmPlugin") -> None:
    """Raise ``WasmPluginError`` unless ``manifest`` is valid."""
    errors = validate_manifest(manifest)
    if errors:
        raise WasmPluginError(source, errors)


def validate_plugin_config(config: Any, schema: dict[str, Any], source: str) -> list[str]:
    """``pluginConfig`` against the filter's JSON Schema; one line per error, path first."""
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    lines = []
    for error in sorted(validator_class(schema).iter_errors(config), key=lambda e: list(e.path)):
        where = "spec.pluginConfig" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        lines.append(f"{where}: {error.message} (schema {source})")
    return lines


def parse_target_ref(text: str) -> dict[str, str]:
    """``Kind/name`` or ``group/Kind/name`` (group may be empty: ``/Service/x``)."""
    parts = text.split("/")
    if len(parts) == 2:
        kind, name = parts
        group = KNOWN_GROUPS.get(kind)
        if group is None:
            raise ValueError(f"target ref {text!r}: give the group too (group/{kind}/{name}); "
                             f"known kinds: {', '.join(KNOWN_GROUPS)}")
    elif len(parts) == 3:
        group, kind, name = parts
    else:
        raise ValueError(f"target ref {text!r}: expected Kind/name or group/Kind/name")
    return {"group": group, "kind": kind, "name": name}


@dataclass
class PluginSpec:
    """What ``meshwasm wasmplugin`` puts into a manifest; empty fields are left out."""

    name: str
    url: str
    namespace: str | None = None
    sha256: str | None = None
    image_pull_policy: str | None = None
    image_pull_secret: str | None = None
    phase: str | None = None
    priority: int | None = None
    fail_strategy: str | None = None
    plugin_name: str | None = None
    selector: dict[str, str] = field(default_factory=dict)
    target_refs: list[dict[str, str]] = field(default_factory=list)
    match: list[dict[str, Any]] = field(default_factory=list)
    plugin_config: dict[str, Any] | None = None
    env: list[dict[str, str]] = field(default_factory=list)


def sha256_for(url: str, sha256: str | None, module: Path | None) -> str | None:
    """The ``sha256`` field: explicit, else the digest an ``oci://…@sha256:`` url is pinned to,
    else (http/https/file urls) the module file's sha256.  Conflicts raise ``ValueError``."""
    pinned = _PINNED.search(url)
    if url.startswith("oci://") and pinned:
        if sha256 and sha256 != pinned.group(1):
            raise ValueError(f"--sha256 {sha256} differs from the digest the url is pinned to "
                             f"({pinned.group(1)}); for oci:// urls Istio checks the manifest "
                             "digest")
        return pinned.group(1)
    if sha256:
        return sha256
    if module is not None and not url.startswith("oci://"):
        return hashlib.sha256(module.read_bytes()).hexdigest()
    return None


def build_manifest(spec: PluginSpec) -> dict[str, Any]:
    """The WasmPlugin object for ``spec`` (not validated: see ``check_manifest``)."""
    metadata: dict[str, Any] = {"name": spec.name}
    if spec.namespace:
        metadata["namespace"] = spec.namespace
    body: dict[str, Any] = {"url": spec.url}
    optional = {"sha256": spec.sha256, "imagePullPolicy": spec.image_pull_policy,
                "imagePullSecret": spec.image_pull_secret, "phase": spec.phase,
                "priority": spec.priority, "failStrategy": spec.fail_strategy,
                "pluginName": spec.plugin_name}
    body.update({key: value for key, value in optional.items() if value is not None})
    if spec.selector:
        body["selector"] = {"matchLabels": dict(spec.selector)}
    if spec.target_refs:
        body["targetRefs"] = list(spec.target_refs)
    if spec.match:
        body["match"] = list(spec.match)
    if spec.plugin_config is not None:
        body["pluginConfig"] = spec.plugin_config
    if spec.env:
        body["vmConfig"] = {"env": list(spec.env)}
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": KIND, "metadata": metadata, "spec": body}


def to_yaml(manifest: dict[str, Any]) -> str:
    """The manifest as YAML, keys in the order written (apiVersion, kind, metadata, spec)."""
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
