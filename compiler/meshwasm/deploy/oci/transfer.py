"""Push a module to an OCI registry as a Wasm image Istio accepts, and pull it back, verified.

``push`` packs the module in the *oci* or *compat* layout (``image``), uploads the blobs and
the manifest (``registry``) and returns the manifest digest: the value Istio's agent checks a
``WasmPlugin``'s ``sha256`` against for ``oci://`` urls.  ``pull`` fetches a manifest of either
layout (tag or digest), verifies the manifest digest when pinned and every blob's sha256, and
writes the module atomically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from meshwasm.deploy.oci.image import (MAX_MODULE_BYTES, OCI_MANIFEST, ImageError, build_image,
                                       module_layer, parse_manifest, unpack_module)
from meshwasm.deploy.oci.registry import (Reference, RegistryClient, RegistryError,
                                          parse_reference)

__all__ = ["ImageError", "PullResult", "PushResult", "RegistryError", "pull", "push"]


@dataclass(frozen=True)
class PushResult:
    reference: Reference  # as pushed (tag or digest)
    digest: str  # manifest digest, sha256:<hex>
    variant: str
    size: int  # bytes of the module

    @property
    def pinned(self) -> Reference:
        """The reference pinned to the manifest digest (what a WasmPlugin url should use)."""
        return self.reference.with_digest(self.digest)


@dataclass(frozen=True)
class PullResult:
    reference: Reference
    digest: str  # manifest digest
    variant: str
    module_sha256: str  # hex sha256 of the module written
    output: Path


def _client(reference: Reference, plain_http: bool | None, timeout: float) -> RegistryClient:
    return RegistryClient(reference.registry, plain_http=plain_http, timeout=timeout)


def push(module_path: Path, reference: str | Reference, *, variant: str = "oci",
         plain_http: bool | None = None, timeout: float = 30.0) -> PushResult:
    """Upload the module at ``module_path`` to ``reference`` as a ``variant`` Wasm image.

    ``plain_http`` None uses plain HTTP for loopback registries and HTTPS elsewhere.  A reference
    with a digest is refused unless it equals the image's digest (the registry would reject it).
    """
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    try:
        module = Path(module_path).read_bytes()
    except OSError as error:
        raise ImageError(f"{module_path}: {error.strerror}") from None
    try:
        image = build_image(module, variant)
    except ImageError as error:
        raise ImageError(f"{module_path}: {error}") from None
    if ref.digest and ref.digest != image.digest:
        raise ImageError(f"{ref}: the image's digest is {image.digest}; push by tag instead")
    client = _client(ref, plain_http, timeout)
    for blob in image.blobs:
        client.put_blob(ref.repository, blob)
    digest = client.put_manifest(ref.repository, ref.identifier, image.manifest, OCI_MANIFEST)
    pushed = ref if (ref.tag or ref.digest) else Reference(ref.registry, ref.repository, "latest")
    return PushResult(pushed, digest, variant, len(module))


def pull(reference: str | Reference, output: Path, *, plain_http: bool | None = None,
         timeout: float = 30.0) -> PullResult:
    """Download the module of the Wasm image at ``reference`` into ``output``.

    Raises ``RegistryError`` for transport problems and digest mismatches, ``ImageError`` when
    the manifest is not a Wasm image; ``output`` is untouched on any error.
    """
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    client = _client(ref, plain_http, timeout)
    manifest_bytes, digest = client.get_manifest(ref.repository, ref.identifier)
    try:
        manifest = parse_manifest(manifest_bytes)
        variant, descriptor = module_layer(manifest)
    except ImageError as error:
        raise ImageError(f"{ref}: {error}") from None
    size = descriptor.get("size") if isinstance(descriptor.get("size"), int) else None
    if size is not None and size > MAX_MODULE_BYTES:  # refused before it is downloaded
        raise ImageError(f"{ref}: the module layer is {size} bytes, more than the "
                         f"{MAX_MODULE_BYTES} a module may have")
    layer = client.get_blob(ref.repository, str(descriptor.get("digest")), size)
    try:
        module = unpack_module(variant, layer)
    except ImageError as error:
        raise ImageError(f"{ref}: {error}") from None
    from meshwasm.builder.pipeline import write_atomically  # the build's own atomic write

    write_atomically(Path(output), module)
    return PullResult(ref, digest, variant, hashlib.sha256(module).hexdigest(), Path(output))
