"""The filter's configuration, checked against ``schema.json`` and turned into objects.

``load(raw_bytes)`` returns a ``Config`` or raises ``ConfigError`` whose message names the
field (``providers.example.local_jwks.inline_string: ...``).
"""

from __future__ import annotations

import json

from proxy_wasm import config_schema, log, resources

from jwt_jwks import Jwks, JwksError, parse_jwks
from jwt_token import normal_audience

TYPE_CHECKING = False  # not `from typing`: that would bundle typing into the module
if TYPE_CHECKING:
    from typing import Any

ConfigError = config_schema.ConfigError

DEFAULT_HEADER = ("authorization", "Bearer ")
DEFAULT_PARAM = "access_token"
#: what makes a request a CORS preflight (method OPTIONS, both others present and not empty)
PREFLIGHT_HEADERS = [":method", "origin", "access-control-request-method"]


class RemoteJwks:
    """Where a provider's keys are fetched from with ``http_call``."""

    __slots__ = ("cluster", "authority", "path", "timeout_ms", "refresh_s")

    def __init__(self, spec: dict[str, Any]) -> None:
        uri = spec["http_uri"]["uri"]
        rest = uri.split("://", 1)[1]
        self.authority, slash, path = rest.partition("/")
        self.path = slash + path or "/"
        self.cluster: str = spec["http_uri"]["cluster"]
        self.timeout_ms: int = spec["http_uri"].get("timeout_ms", 1000)
        self.refresh_s: int = spec.get("cache_duration_seconds", 600)


class Provider:
    """One token issuer; ``jwks`` is None until a remote JWKS has been fetched."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.issuer: str = spec.get("issuer", "")
        self.audiences = normal_audiences(spec.get("audiences", []))
        self.jwks: Jwks | None = None
        self.remote: RemoteJwks | None = None
        self.jwks_fetched_ms = 0
        if "local_jwks" in spec:
            local = spec["local_jwks"]
            where = f"providers.{name}.local_jwks"
            try:
                if "inline" in local:
                    self.jwks = parse_jwks(local["inline"], f"{where}.inline")
                else:
                    self.jwks = parse_jwks(local["inline_string"], f"{where}.inline_string")
            except JwksError as error:
                raise ConfigError([str(error)]) from None
            report_skipped(self.jwks)
        else:
            self.remote = RemoteJwks(spec["remote_jwks"])
        headers = [(entry["name"].lower(), entry.get("value_prefix", ""))
                   for entry in spec.get("from_headers", ())]
        params: list[str] = spec.get("from_params", [])
        cookies: list[str] = spec.get("from_cookies", [])
        if not (headers or params or cookies):
            headers, params = [DEFAULT_HEADER], [DEFAULT_PARAM]
        # Envoy keeps the locations in ordered maps (a header by name + prefix): sorted, once.
        self.from_headers = sorted(dict.fromkeys(headers), key=lambda pair: pair[0] + pair[1])
        self.from_params = sorted(set(params))
        self.from_cookies = sorted(set(cookies))
        self.forward: bool = spec.get("forward", False)
        self.forward_payload_header: str | None = spec.get("forward_payload_header")
        self.claim_to_headers = [(entry["header_name"].lower(), entry["claim_name"])
                                 for entry in spec.get("claim_to_headers", ())]
        self.payload_in_metadata: str | None = spec.get("payload_in_metadata")
        # Removed from every checked request before extraction: a client cannot pose as them.
        # (lower case, as the headers read are keyed: Envoy's names are case-insensitive)
        self.sanitized = ([self.forward_payload_header.lower()]
                          if self.forward_payload_header else []) \
            + [header for header, _ in self.claim_to_headers]
        self.clock_skew_s: int = spec.get("clock_skew_seconds", 60)
        #: None: no limit but Envoy's own on the request headers, as in Envoy's filter
        self.max_token_bytes: int | None = spec.get("max_token_bytes")


def report_skipped(jwks: Jwks) -> None:
    """Log the keys of ``jwks`` that were left out, and why (legal in any callback)."""
    for reason in jwks.skipped:
        log.warn(f"jwt_authn: key skipped: {reason}")


def normal_audiences(audiences: list[str]) -> list[str]:
    """Configured audiences as tokens' are compared with them (see ``normal_audience``)."""
    return [normal_audience(audience) for audience in audiences]


class Rule:
    """Requests whose path starts with ``prefix``; ``provider`` None means skip."""

    __slots__ = ("prefix", "size", "requirement", "provider", "audiences", "claims")

    def __init__(self, prefix: str, requirement: str, provider: Provider | None,
                 audiences: list[str] | None, claims: dict[str, list[str]]) -> None:
        self.prefix, self.requirement, self.provider = prefix, requirement, provider
        self.size = len(prefix)
        self.audiences, self.claims = audiences, claims


class Config:
    def __init__(self, providers: dict[str, Provider], rules: list[Rule],
                 token_cache_size: int, bypass_cors_preflight: bool = False) -> None:
        self.providers = providers
        self.rules = rules
        self.token_cache_size = token_cache_size
        #: let CORS preflights through unchecked (Envoy's ``bypass_cors_preflight``)
        self.bypass_cors_preflight = bypass_cors_preflight
        #: every provider's sanitized headers (what a skip rule removes, as Envoy's does)
        self.sanitized = sorted({header for provider in providers.values()
                                 for header in provider.sanitized})
        #: the request headers a check reads, fetched together with one host call (lower
        #: case): the path, every token location, every sanitized header (removed only when
        #: present: a remove is a host call too)
        read = [":path"]
        for provider in providers.values():
            read += [name for name, _ in provider.from_headers]
            if provider.from_cookies:
                read.append("cookie")
        read += self.sanitized
        if bypass_cors_preflight:
            read += PREFLIGHT_HEADERS
        self.read_headers = tuple(dict.fromkeys(read))
        self.header_index = {name: at for at, name in enumerate(self.read_headers)}

    def rule_for(self, path: str) -> Rule | None:
        """The first rule whose prefix starts ``path`` (query included, as Envoy's match)."""
        for rule in self.rules:
            if path[:rule.size] == rule.prefix:  # (startswith parses its arguments: slower)
                return rule
        return None


_schema: dict[str, Any] | None = None


def schema() -> dict[str, Any]:
    global _schema
    if _schema is None:
        _schema = json.loads(resources.read("schema.json"))
    return _schema


def _rule(index: int, spec: dict[str, Any], providers: dict[str, Provider]) -> Rule:
    requirement = spec.get("requirement", "required")
    if requirement == "skip":
        return Rule(spec["prefix"], requirement, None, None, {})
    name = spec.get("provider")
    if name is None:
        if len(providers) != 1:
            raise ConfigError([f"rules[{index}].provider: required when there are several "
                               f"providers ({', '.join(sorted(providers))})"])
        name = next(iter(providers))
    if name not in providers:
        raise ConfigError([f"rules[{index}].provider: no provider named {name!r} "
                           f"(known: {', '.join(sorted(providers))})"])
    audiences = spec.get("audiences")
    return Rule(spec["prefix"], requirement, providers[name],
                None if audiences is None else normal_audiences(audiences),
                spec.get("claims", {}))


def load(raw: bytes) -> Config:
    """Parse and check the plugin configuration (legal in ``on_configure``)."""
    document = config_schema.load(raw, schema())
    providers = {name: Provider(name, spec) for name, spec in document["providers"].items()}
    rules = [_rule(index, spec, providers) for index, spec in enumerate(document.get("rules", []))]
    return Config(providers, rules, document.get("token_cache_size", 1024),
                  document.get("bypass_cors_preflight", False))
