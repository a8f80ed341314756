"""The two Wasm image layouts Istio's agent unpacks, built and taken apart in memory.

Istio (``pkg/wasm/imagefetcher.go``) accepts, for an ``oci://`` WasmPlugin url:

* **oci** variant (the "Wasm Artifact Image" spec): a manifest whose ``layers`` are exactly
  two blobs, one of media type ``application/vnd.module.wasm.config.v1+json`` (the runtime
  config JSON) and one of ``application/vnd.module.wasm.content.layer.v1+wasm`` (the raw
  module, uncompressed).  We also give the manifest's ``config`` descriptor the wasm config
  media type, so registries and tools that classify artifacts by config type see a Wasm module.
* **compat** variant: an ordinary container image with a single gzip'd tar layer
  (``application/vnd.oci.image.layer.v1.tar+gzip``) holding ``plugin.wasm`` (and, optionally,
  ``runtime-config.json``), annotated ``module.wasm.image/variant: compat``.  Docker-typed
  manifests (``application/vnd.docker.image.rootfs.diff.tar.gzip`` layers) are read too.

Every blob is produced deterministically (tar and gzip mtimes are 0, JSON keys sorted), so the
same module always gives the same manifest digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from meshwasm.module_check import WASM_MAGIC, NotAModuleError, check_module

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_CONTENT = "application/vnd.module.wasm.content.layer.v1+wasm"
VARIANT_ANNOTATION = "module.wasm.image/variant"
TITLE_ANNOTATION = "org.opencontainers.image.title"
PLUGIN_FILE = "plugin.wasm"
RUNTIME_CONFIG_FILE = "runtime-config.json"
FORMATS = ("oci", "compat")
#: manifest types ``extract_module`` understands, for the registry's Accept header
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)


class ImageError(ValueError):
    """A manifest or blob is not a Wasm image of either variant; names what is wrong."""


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``, the content address OCI uses."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Stable JSON bytes (sorted keys, no spaces): equal values give equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    def descriptor(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                                 "size": len(self.data)}
        if self.annotations:
            entry["annotations"] = dict(self.annotations)
        return entry


@dataclass(frozen=True)
class Image:
    """A manifest and the blobs it names, ready to push (config first, then layers)."""

    config: Blob
    layers: tuple[Blob, ...]
    manifest: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)


def runtime_config(root_ids: list[str] | None = None) -> dict[str, Any]:
    """The runtime config JSON of the Wasm image spec, for Envoy's proxy-wasm ABI 0.2.1."""
    return {"type": "envoy_proxy", "abiVersions": ["v0.2.1"],
            "config": {"rootIds": list(root_ids or [])}}


def _tar_gz(files: dict[str, bytes]) -> tuple[bytes, bytes]:
    """(gzip'd tar, uncompressed tar) of ``files``, with fixed owners, modes and times."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, compresslevel=6) as stream:
        stream.write(raw.getvalue())
    return packed.getvalue(), raw.getvalue()


def _manifest(config: Blob, layers: list[Blob], annotations: dict[str, str]) -> bytes:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    return canonical_json(manifest)


def build_image(module: bytes, variant: str = "oci", *,
                annotations: dict[str, str] | None = None) -> Image:
    """The image of ``variant`` ("oci" or "compat") carrying ``module``."""
    if not module.startswith(WASM_MAGIC):
        raise ImageError("not a WebAssembly module (no \\0asm magic)")
    extra = dict(annotations or {})
    config_json = canonical_json(runtime_config())
    if variant == "oci":
        config = Blob(WASM_CONFIG, config_json)
        layers = [Blob(WASM_CONFIG, config_json, {TITLE_ANNOTATION: RUNTIME_CONFIG_FILE}),
                  Blob(WASM_CONTENT, module, {TITLE_ANNOTATION: PLUGIN_FILE})]
        return Image(config, tuple(layers), _manifest(config, layers, extra))
    if variant == "compat":
        packed, raw = _tar_gz({PLUGIN_FILE: module, RUNTIME_CONFIG_FILE: config_json})
        image_config = {
            "architecture": "wasm", "os": "wasip1",
            "config": {}, "rootfs": {"type": "layers", "diff_ids": [sha256_digest(raw)]},
        }
        config = Blob(OCI_IMAGE_CONFIG, canonical_json(image_config))
        layers = [Blob(OCI_LAYER_TAR_GZIP, packed)]
        return Image(config, tuple(layers),
                     _manifest(config, layers, {VARIANT_ANNOTATION: "compat", **extra}))
    raise ImageError(f"unknown image format {variant!r}: choose one of {', '.join(FORMATS)}")


def parse_manifest(data: bytes) -> dict[str, Any]:
    """The manifest JSON, checked to be a single-image manifest with layers."""
    try:
        manifest = json.loads(data)
    except ValueError as error:
        raise ImageError(f"manifest is not JSON: {error}") from None
    if not isinstance(manifest, dict):
        raise ImageError("manifest is not a JSON object")
    if manifest.get("mediaType") in (OCI_INDEX, DOCKER_MANIFEST_LIST) or "manifests" in manifest:
        raise ImageError("reference names an image index (multi-platform), not a Wasm image")
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ImageError("manifest has no 'layers' list")
    return manifest


def module_layer(manifest: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Which variant the manifest is, and the descriptor of the layer holding the module.

    Mirrors the order Istio's agent tries: Docker-typed compat, OCI compat, then oci.
    """
    layers: list[dict[str, Any]] = manifest["layers"]
    types = [layer.get("mediaType") for layer in layers]
    if len(layers) == 1 and types[0] in (OCI_LAYER_TAR_GZIP, DOCKER_LAYER_TAR_GZIP):
        return "compat", layers[0]
    wasm = [layer for layer in layers if layer.get("mediaType") == WASM_CONTENT]
    if len(layers) == 2 and wasm:
        return "oci", wasm[0]
    raise ImageError(
        "manifest is neither Wasm image variant: want one tar+gzip layer (compat) or two layers "
        f"including {WASM_CONTENT} (oci); got layer types {types}")


#: The largest module ``unpack_module`` gives back (and so the most a compat layer may inflate
#: to): far above any real filter (ours are ~6 MB), far below what a gzip bomb would use.
MAX_MODULE_BYTES = 128 * 1024 * 1024


class _Capped(io.RawIOBase):
    """A readable stream that raises ``ImageError`` once more than ``limit`` bytes came out."""

    def __init__(self, stream: gzip.GzipFile, limit: int) -> None:
        super().__init__()
        self._stream, self._limit, self._count = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        self._count += len(data)
        if self._count > self._limit:
            raise ImageError(f"compat layer inflates to more than {self._limit} bytes "
                             "(a gzip bomb?)")
        buffer[:len(data)] = data
        return len(data)


def _module_from_tar_gz(layer: bytes, limit: int) -> bytes:
    """``plugin.wasm`` from a compat layer, decompressed as a stream: at most ``limit`` bytes
    are ever inflated, whatever the layer claims."""
    source = _Capped(gzip.GzipFile(fileobj=io.BytesIO(layer)), limit)
    try:
        with tarfile.open(fileobj=io.BufferedReader(source), mode="r|") as archive:
            for member in archive:
                if member.isfile() and member.name.rsplit("/", 1)[-1] == PLUGIN_FILE:
                    if member.size > limit:
                        raise ImageError(f"compat layer's {PLUGIN_FILE} is {member.size} "
                                         f"bytes, more than the {limit} a module may have")
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    return extracted.read()
    except (OSError, EOFError, tarfile.TarError) as error:
        raise ImageError(f"compat layer is not a tar.gz: {error}") from None
    raise ImageError(f"compat layer has no {PLUGIN_FILE}")


def unpack_module(variant: str, layer: bytes, limit: int = MAX_MODULE_BYTES) -> bytes:
    """The module bytes from the module layer's blob, checked to be a valid Wasm module."""
    if variant == "compat":
        module = _module_from_tar_gz(layer, limit)
    elif len(layer) > limit:
        raise ImageError(f"the image's module is larger than {limit} bytes")
    else:
        module = layer
    try:
        check_module(module, "the image's module")
    except NotAModuleError as error:
        raise ImageError(str(error)) from None
    return module
