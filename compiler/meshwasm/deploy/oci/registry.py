"""A small client for the OCI distribution API (the registry HTTP protocol), on ``urllib``.

Why not a library: ``oras`` (PyPI) is built around pushing files from disk as artifacts with
its own manifest conventions and brings ``requests`` plus a Docker-config stack; what we need
is exact control of two manifest layouts (Istio's *oci* and *compat* variants), the media types,
content addressing and digest checks on pull.  That is five endpoints of the distribution spec
(HEAD/GET blob, POST+PUT upload, PUT/GET manifest) and the token handshake, which fit in this
module with no dependency.

Authentication follows the registry's ``WWW-Authenticate`` challenge: ``Basic`` with the
credentials below, or ``Bearer`` by fetching a token from the challenge's realm (anonymously
when there are no credentials).  Credentials come from ``MESHWASM_REGISTRY_USERNAME`` /
``MESHWASM_REGISTRY_PASSWORD``, else from ``~/.docker/config.json`` (``auths.<host>.auth``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from meshwasm.deploy.oci.image import MANIFEST_TYPES, Blob, sha256_digest

_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
_DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class RegistryError(RuntimeError):
    """A registry request failed; the message names the URL and the registry's answer."""


@dataclass(frozen=True)
class Reference:
    """``[oci://]host[:port]/repository[:tag][@sha256:hex]``, split into its parts."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def is_loopback(self) -> bool:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.startswith("[") \
            else self.registry.split("]")[0] + "]"
        return host in _LOOPBACK_HOSTS


def parse_reference(text: str) -> Reference:
    """Parse an image reference; raises ``ValueError`` naming the bad part."""
    rest = text[len("oci://"):] if text.startswith("oci://") else text
    if "://" in rest:
        raise ValueError(f"image reference {text!r}: only oci:// or no scheme is allowed")
    digest = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"image reference {text!r}: digest must be sha256:<64 hex>, "
                             f"got {digest!r}")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"
                      or first.startswith("[")):
        registry, path = first, remainder
    else:
        registry, path = _DOCKER_HUB, rest if "/" in rest else f"library/{rest}"
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ValueError(f"image reference {text!r}: bad tag {tag!r}")
    if not _REPOSITORY.match(path):
        raise ValueError(f"image reference {text!r}: bad repository name {path!r} "
                         "(lower-case letters, digits, separators . _ - and /)")
    return Reference(registry, path, tag, digest)


def _credentials(registry: str) -> tuple[str, str] | None:
    user = os.environ.get("MESHWASM_REGISTRY_USERNAME")
    password = os.environ.get("MESHWASM_REGISTRY_PASSWORD")
    if user and password:
        return user, password
    config = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        auths = json.loads(config.read_text(encoding="utf-8")).get("auths", {})
    except (OSError, ValueError):
        return None
    keys = [registry, f"https://{registry}"]
    if registry == _DOCKER_HUB:
        keys.append("https://index.docker.io/v1/")
    for key in keys:
        encoded = auths.get(key, {}).get("auth")
        if encoded:
            name, _, secret = base64.b64decode(encoded).decode("utf-8").partition(":")
            return name, secret
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class RegistryClient:
    """Talks to one registry.  ``plain_http`` None means "plain HTTP for loopback only"."""

    registry: str
    plain_http: bool | None = None
    timeout: float = 30.0
    _authorization: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        host = _DOCKER_HUB_API if self.registry == _DOCKER_HUB else self.registry
        plain = self.plain_http if self.plain_http is not None else \
            Reference(self.registry, "x").is_loopback
        return f"{'http' if plain else 'https'}://{host}"

    def _send(self, method: str, url: str, body: bytes | None,
              headers: dict[str, str]) -> Response:
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        if self._authorization:
            # not carried over redirects (blob storage behind a registry has its own auth)
            request.add_unredirected_header("Authorization", self._authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()},
                                answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, {k.lower(): v for k, v in error.headers.items()},
                            error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RegistryError(f"{method} {url}: cannot reach the registry: {reason}") from None

    def _authorize(self, challenge: str) -> bool:
        scheme, params = _challenge(challenge)
        credentials = _credentials(self.registry)
        if scheme == "basic":
            if credentials is None:
                return False
            token = base64.b64encode(":".join(credentials).encode()).decode()
            self._authorization = f"Basic {token}"
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        url = params["realm"] + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {}
        if credentials is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ":".join(credentials).encode()).decode()
        self._authorization = None
        answer = self._send("GET", url, None, headers)
        if answer.status != 200:
            raise RegistryError(f"token request to {params['realm']} failed: HTTP {answer.status}")
        document = json.loads(answer.body)
        self._authorization = f"Bearer {document.get('token') or document.get('access_token')}"
        return True

    def request(self, method: str, path_or_url: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, expect: tuple[int, ...] = (200,)) -> Response:
        """One API call; retries once after answering an auth challenge; raises on other codes."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        answer = self._send(method, url, body, dict(headers or {}))
        if answer.status == 401 and self._authorize(answer.headers.get("www-authenticate", "")):
            answer = self._send(method, url, body, dict(headers or {}))
        if answer.status not in expect:
            detail = answer.body[:300].decode("utf-8", errors="replace").strip()
            raise RegistryError(f"{method} {url}: HTTP {answer.status}"
                                + (f": {detail}" if detail else ""))
        return answer

    # --- blobs -----------------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str) -> bool:
        answer = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", expect=(200, 404))
        return answer.status == 200

    def put_blob(self, repository: str, blob: Blob) -> None:
        """Upload ``blob`` (monolithic upload) unless the registry has it already."""
        if self.has_blob(repository, blob.digest):
            return
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/", expect=(202,))
        location = started.headers.get("location")
        if not location:
            raise RegistryError(f"registry {self.registry} gave no upload location")
        location = urllib.parse.urljoin(self.base_url + "/", location)
        separator = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{separator}digest={urllib.parse.quote(blob.digest)}",
                     blob.data, {"Content-Type": "application/octet-stream"}, expect=(201,))

    def get_blob(self, repository: str, digest: str, size: int | None = None) -> bytes:
        """The blob's bytes, checked against ``digest`` (and ``size`` when given)."""
        data = self.request("GET", f"/v2/{repository}/blobs/{digest}").body
        if size is not None and len(data) != size:
            raise RegistryError(f"blob {digest}: expected {size} bytes, got {len(data)}")
        actual = sha256_digest(data)
        if actual != digest:
            raise RegistryError(f"blob {digest}: content has digest {actual} (corrupt or tampered)")
        return data

    # --- manifests -------------------------------------------------------------------------

    def put_manifest(self, repository: str, identifier: str, manifest: bytes,
                     media_type: str) -> str:
        """Store ``manifest`` under a tag or digest; returns its digest."""
        answer = self.request("PUT", f"/v2/{repository}/manifests/{identifier}", manifest,
                              {"Content-Type": media_type}, expect=(201,))
        digest = sha256_digest(manifest)
        reported = answer.headers.get("docker-content-digest")
        if reported and reported != digest:
            raise RegistryError(f"registry stored manifest as {reported}, expected {digest}")
        return digest

    def get_manifest(self, repository: str, identifier: str) -> tuple[bytes, str]:
        """The manifest bytes and their digest; checked when ``identifier`` is a digest."""
        answer = self.request("GET", f"/v2/{repository}/manifests/{identifier}",
                              headers={"Accept": ", ".join(MANIFEST_TYPES)})
        digest = sha256_digest(answer.body)
        if identifier.startswith("sha256:") and digest != identifier:
            raise RegistryError(f"manifest {identifier}: content has digest {digest} "
                                "(corrupt or tampered)")
        reported = answer.headers.get("docker-content-digest")
        if reported and reported != digest:
            raise RegistryError(f"manifest {identifier}: registry says {reported}, content "
                                f"has digest {digest}")
        return answer.body, digest
