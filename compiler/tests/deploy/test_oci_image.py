"""The two Wasm image layouts and image references, without a registry."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tracemalloc

import pytest

from meshwasm.deploy.oci.image import (OCI_LAYER_TAR_GZIP, VARIANT_ANNOTATION, WASM_CONFIG,
                                       WASM_CONTENT, ImageError, build_image, module_layer,
                                       parse_manifest, sha256_digest, unpack_module)
from meshwasm.deploy.oci.registry import Reference, parse_reference

from wasm_bytes import gzip_bomb_layer, module_with_payload  # this folder is on sys.path (no __init__.py)

MODULE = module_with_payload(bytes(range(256)) * 4)


def test_oci_variant_has_the_two_layers_istio_requires() -> None:
    image = build_image(MODULE, "oci")
    manifest = json.loads(image.manifest)
    assert manifest["config"]["mediaType"] == WASM_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [WASM_CONFIG, WASM_CONTENT]
    wasm = manifest["layers"][1]
    assert wasm["digest"] == sha256_digest(MODULE) and wasm["size"] == len(MODULE)
    assert json.loads(image.config.data)["type"] == "envoy_proxy"
    assert module_layer(parse_manifest(image.manifest)) == ("oci", wasm)


def test_compat_variant_is_one_tar_gz_layer_with_plugin_wasm() -> None:
    image = build_image(MODULE, "compat")
    manifest = json.loads(image.manifest)
    assert manifest["annotations"][VARIANT_ANNOTATION] == "compat"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [OCI_LAYER_TAR_GZIP]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(image.layers[0].data))) as archive:
        member = archive.extractfile("plugin.wasm")
        assert member is not None and member.read() == MODULE
    # the image config's diff_id is the digest of the uncompressed layer, as runtimes check
    diff_ids = json.loads(image.config.data)["rootfs"]["diff_ids"]
    assert diff_ids == [sha256_digest(gzip.decompress(image.layers[0].data))]
    assert unpack_module("compat", image.layers[0].data) == MODULE


@pytest.mark.parametrize("variant", ["oci", "compat"])
def test_same_module_gives_the_same_digest(variant: str) -> None:
    assert build_image(MODULE, variant).digest == build_image(bytes(MODULE), variant).digest
    assert build_image(MODULE, variant).digest != build_image(MODULE + b"\0", variant).digest


def test_not_wasm_and_unknown_format_are_refused() -> None:
    with pytest.raises(ImageError, match="magic"):
        build_image(b"PK\x03\x04", "oci")
    with pytest.raises(ImageError, match="unknown image format 'zip'"):
        build_image(MODULE, "zip")


def test_foreign_manifests_are_named_in_the_error() -> None:
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    with pytest.raises(ImageError, match="image index"):
        parse_manifest(index)
    three = {"layers": [{"mediaType": WASM_CONTENT}] * 3}
    with pytest.raises(ImageError, match="neither Wasm image variant"):
        module_layer(three)
    with pytest.raises(ImageError, match="not a tar.gz"):
        unpack_module("compat", b"garbage")


def _tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_compat_layer_inflating_past_the_limit_is_refused_as_it_streams() -> None:
    """Members before plugin.wasm count too: decompression stops at the limit."""
    layer = _tar_gz({"padding": bytes(4 << 20), "plugin.wasm": MODULE})
    assert unpack_module("compat", layer) == MODULE  # the default limit lets it through
    with pytest.raises(ImageError, match="inflates to more than 1048576 bytes"):
        unpack_module("compat", layer, limit=1 << 20)


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    """A 1 MB layer whose plugin.wasm says 1 GiB (issue 12): refused from its tar header,
    with next to nothing allocated."""
    layer = gzip_bomb_layer(1 << 30)
    assert len(layer) < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match="plugin.wasm is 1073741824 bytes, more than"):
            unpack_module("compat", layer)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("variant", ["oci", "compat"])
def test_unpacked_module_must_be_valid_wasm(variant: str) -> None:
    broken = b"\0asm\x01\0\0\0\x01\x05\x01\x60"  # a type section cut short
    layer = _tar_gz({"plugin.wasm": broken}) if variant == "compat" else broken
    with pytest.raises(ImageError, match="not a valid WebAssembly module"):
        unpack_module(variant, layer)


@pytest.mark.parametrize("text, expected", [
    ("oci://127.0.0.1:5000/filters/hello:v1",
     Reference("127.0.0.1:5000", "filters/hello", "v1", None)),
    ("localhost:5000/hello", Reference("localhost:5000", "hello", None, None)),
    ("ghcr.io/acme/hello@sha256:" + "a" * 64,
     Reference("ghcr.io", "acme/hello", None, "sha256:" + "a" * 64)),
    ("hello:1.0", Reference("docker.io", "library/hello", "1.0", None)),
])
def test_references_parse(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text, message", [
    ("https://ghcr.io/acme/hello", "only oci://"),
    ("ghcr.io/acme/hello@sha256:abc", "digest must be sha256"),
    ("ghcr.io/Acme/hello", "bad repository name"),
    ("ghcr.io/acme/hello:bad tag", "bad tag"),
])
def test_bad_references_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reference(text)


def test_loopback_registries_default_to_plain_http() -> None:
    from meshwasm.deploy.oci.registry import RegistryClient

    assert RegistryClient("127.0.0.1:5000").base_url == "http://127.0.0.1:5000"
    assert RegistryClient("localhost:5000").base_url == "http://localhost:5000"
    assert RegistryClient("ghcr.io").base_url == "https://ghcr.io"
    assert RegistryClient("ghcr.io", plain_http=True).base_url == "http://ghcr.io"
    assert RegistryClient("docker.io").base_url == "https://registry-1.docker.io"
