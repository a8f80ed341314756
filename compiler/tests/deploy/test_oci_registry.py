"""push/pull against a real registry on loopback, and pulls that must be refused."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from meshwasm.cli import main
from meshwasm_testkit.local_registry import LocalRegistry, RegistryStartError, run_registry
from meshwasm.deploy.oci.transfer import ImageError, RegistryError, pull, push
from meshwasm.deploy.oci.image import build_image, sha256_digest

from wasm_bytes import gzip_bomb_layer, module_with_payload  # this folder is on sys.path (no __init__.py)

MODULE = module_with_payload(b"meshwasm test module" * 100)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "filter.wasm"
    path.write_bytes(MODULE)
    return path


@pytest.mark.parametrize("variant", ["oci", "compat"])
def test_cli_push_then_pull_by_digest_and_tag(registry: LocalRegistry, module: Path,
                                              tmp_path: Path, variant: str) -> None:
    runner = CliRunner()
    ref = f"{registry.host}/filters/test:{variant}"
    pushed = runner.invoke(main, ["push", str(module), ref, "--format", variant])
    assert pushed.exit_code == 0, pushed.output
    digest = pushed.stdout.strip().splitlines()[-1]
    assert digest == build_image(MODULE, variant).digest  # the digest of what we built

    by_digest = tmp_path / "by-digest.wasm"
    pulled = runner.invoke(main, ["pull", f"oci://{registry.host}/filters/test@{digest}",
                                  "-o", str(by_digest)])
    assert pulled.exit_code == 0, pulled.output
    assert pulled.stdout.strip().splitlines()[-1] == digest
    assert by_digest.read_bytes() == MODULE

    by_tag = pull(ref, tmp_path / "by-tag.wasm")
    assert (by_tag.digest, by_tag.variant) == (digest, variant)
    assert (tmp_path / "by-tag.wasm").read_bytes() == MODULE


def test_push_is_idempotent_and_tags_move(registry: LocalRegistry, module: Path,
                                          tmp_path: Path) -> None:
    ref = f"{registry.host}/filters/test:latest"
    first = push(module, ref)
    assert push(module, ref).digest == first.digest
    changed = tmp_path / "changed.wasm"
    changed.write_bytes(module_with_payload(b"v2"))
    second = push(changed, ref)
    assert second.digest != first.digest
    assert pull(ref, tmp_path / "out.wasm").digest == second.digest
    # the old image is still there by digest
    assert pull(first.pinned, tmp_path / "old.wasm").digest == first.digest
    assert (tmp_path / "old.wasm").read_bytes() == MODULE


def test_pull_of_a_missing_tag_names_it_and_writes_nothing(registry: LocalRegistry,
                                                           tmp_path: Path) -> None:
    output = tmp_path / "out.wasm"
    result = CliRunner().invoke(main, ["pull", f"{registry.host}/nothing/here:v9", "-o",
                                       str(output)])
    assert result.exit_code != 0
    assert "/v2/nothing/here/manifests/v9: HTTP 404" in result.output
    assert not output.exists()


def test_push_refuses_a_non_wasm_file(registry: LocalRegistry, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.wasm"
    bogus.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(ImageError, match=r"bogus.wasm: not a WebAssembly module"):
        push(bogus, f"{registry.host}/filters/bogus:v1")


def test_registry_process_is_gone_after_the_block() -> None:
    with run_registry() as running:
        pid = running.pid
        assert Path(f"/proc/{pid}").exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
        f"/proc/{pid}/status").read_text().lower()


def test_missing_registry_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryStartError, match="apt-get install -y docker-registry"):
        with run_registry(binary=tmp_path / "no-registry"):
            pass


# --- a registry that lies: served by hand ------------------------------------------------------

@contextmanager
def _lying_registry(manifest: bytes, blobs: dict[str, bytes]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if "/manifests/" in self.path:
                body, kind = manifest, "application/vnd.oci.image.manifest.v1+json"
            else:
                body, kind = blobs.get(self.path.rsplit("/", 1)[-1], b""), "application/octet-stream"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_tampered_layer_is_refused(tmp_path: Path) -> None:
    image = build_image(MODULE, "oci")
    blobs = {blob.digest: blob.data for blob in image.blobs}
    blobs[image.layers[1].digest] = MODULE[:-1] + b"X"  # same size, other bytes
    output = tmp_path / "out.wasm"
    with _lying_registry(image.manifest, blobs) as host:
        with pytest.raises(RegistryError, match="corrupt or tampered"):
            pull(f"{host}/filters/test:v1", output)
    assert not output.exists()


def test_manifest_not_matching_the_pinned_digest_is_refused(tmp_path: Path) -> None:
    image = build_image(MODULE, "oci")
    blobs = {blob.digest: blob.data for blob in image.blobs}
    other = sha256_digest(b"another manifest")
    with _lying_registry(image.manifest, blobs) as host:
        with pytest.raises(RegistryError, match=f"manifest {other}: content has digest "
                                                f"{image.digest}"):
            pull(f"{host}/filters/test@{other}", tmp_path / "out.wasm")
        # and the honest digest passes
        assert pull(f"{host}/filters/test@{image.digest}", tmp_path / "ok.wasm").digest == \
            image.digest


def test_https_is_used_when_plain_http_is_off(tmp_path: Path) -> None:
    """Loopback means plain HTTP only by default: plain_http=False speaks TLS (and fails here)."""
    image = build_image(MODULE, "compat")
    with _lying_registry(image.manifest, {}) as host:
        with pytest.raises(RegistryError, match=f"https://{host}/v2/x/manifests/y: cannot reach"):
            pull(f"{host}/x:y", tmp_path / "o.wasm", plain_http=False, timeout=5)


def _compat_image_with_layer(layer: bytes) -> tuple[bytes, dict[str, bytes]]:
    """A compat image's manifest and blobs, its one layer replaced by ``layer``."""
    image = build_image(MODULE, "compat")
    manifest = json.loads(image.manifest)
    manifest["layers"][0].update(digest=sha256_digest(layer), size=len(layer))
    blobs = {image.config.digest: image.config.data, sha256_digest(layer): layer}
    return json.dumps(manifest).encode(), blobs


def test_pull_refuses_a_gzip_bomb_and_writes_nothing(tmp_path: Path) -> None:
    manifest, blobs = _compat_image_with_layer(gzip_bomb_layer(1 << 30))
    output = tmp_path / "out.wasm"
    with _lying_registry(manifest, blobs) as host:
        result = CliRunner().invoke(main, ["pull", f"{host}/filters/bomb:v1", "-o", str(output)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "plugin.wasm is 1073741824 bytes, more than" in result.output
    assert list(tmp_path.iterdir()) == []


def test_pull_refuses_a_module_that_is_not_valid_wasm(tmp_path: Path) -> None:
    broken = b"\0asm\x01\0\0\0\x01\x05\x01\x60"
    image = build_image(broken, "oci")
    output = tmp_path / "out.wasm"
    with _lying_registry(image.manifest, {b.digest: b.data for b in image.blobs}) as host:
        with pytest.raises(ImageError, match="not a valid WebAssembly module"):
            pull(f"{host}/filters/broken:v1", output)
    assert list(tmp_path.iterdir()) == []


def test_pulled_module_mode_follows_the_umask(registry: LocalRegistry, module: Path,
                                              tmp_path: Path) -> None:
    ref = f"{registry.host}/filters/test:mode"
    push(module, ref)
    previous = os.umask(0o022)
    try:
        pull(ref, tmp_path / "default.wasm")
        os.umask(0o077)
        pull(ref, tmp_path / "private.wasm")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "default.wasm").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.wasm").stat().st_mode) == 0o600


def test_pull_refuses_a_layer_larger_than_a_module_before_downloading_it(
        tmp_path: Path) -> None:
    image = build_image(MODULE, "oci")
    manifest = json.loads(image.manifest)
    manifest["layers"][1]["size"] = 1 << 40
    blobs = {blob.digest: blob.data for blob in image.blobs}
    with _lying_registry(json.dumps(manifest).encode(), blobs) as host:
        with pytest.raises(ImageError, match="the module layer is 1099511627776 bytes"):
            pull(f"{host}/filters/huge:v1", tmp_path / "out.wasm")
    assert list(tmp_path.iterdir()) == []
