"""jwt_authn: verify JSON Web Tokens as Envoy's ``envoy.filters.http.jwt_authn`` does.

Configuration: ``schema.json`` beside this file; reference and differences from Envoy's
filter in ``README.md``.  A request whose path matches a rule must carry a token of the
rule's provider (``required``), may omit it (``optional``), or is not checked (``skip``).
Failures answer 401 (403 when a valid token's audiences or claims are not allowed) with
Envoy's body and ``www-authenticate`` header.
"""

from __future__ import annotations

from proxy_wasm import Action, HeaderMap, HttpContext, RootContext, clock, log
from proxy_wasm import properties
from proxy_wasm import register

from jwt_config import Config, ConfigError, Provider, load, report_skipped
from jwt_extract import Found, extract, strip
from jwt_jwks import JwksError, parse_jwks
from jwt_token import CLAIMS, JWKS_FETCH, MISSING, TOO_LARGE, Failure
from jwt_verifier import NEEDS_KEYS, Verified, Verifier

TICK_MS = 1000


class JwtRoot(RootContext):
    """Configuration, the token cache, and the remote JWKS fetches (one per worker VM).

    A provider has at most one JWKS fetch in flight, made by this root context: the refresh
    on the tick and every stream waiting for keys share it (Envoy's own filter fetches per
    waiting stream unless ``async_fetch`` is set)."""

    def __init__(self, context_id: int) -> None:
        super().__init__(context_id)
        self.config: Config | None = None
        self.verifier = Verifier(0)
        self._fetches: dict[int, Provider] = {}
        self._waiting: dict[int, list[JwtStream]] = {}

    def on_configure(self, configuration: bytes) -> bool:
        try:
            config = load(configuration)
        except ConfigError as error:
            log.error(f"jwt_authn: configuration rejected: {error}")
            return False
        self.config = config
        self.verifier = Verifier(config.token_cache_size)
        if any(p.remote is not None for p in config.providers.values()):
            self.set_tick_period_ms(TICK_MS)
        return True

    def on_tick(self) -> None:
        """Fetch remote keys that are missing or older than their cache duration."""
        assert self.config is not None
        now_ms = clock.now_ms()
        for provider in self.config.providers.values():
            remote = provider.remote
            if remote is None:
                continue
            if provider.jwks is None or now_ms - provider.jwks_fetched_ms >= remote.refresh_s * 1000:
                self.fetch(provider)

    def fetch(self, provider: Provider) -> int | None:
        """The token of ``provider``'s JWKS fetch in flight, starting one when there is none;
        None when the call could not start.  Legal in any callback."""
        for token, busy in self._fetches.items():
            if busy is provider:
                return token
        started = start_fetch(self, provider)
        if started is not None:
            self._fetches[started] = provider
        return started

    def wait_for_keys(self, provider: Provider, stream: JwtStream) -> bool:
        """Have ``stream`` called back (``keys_arrived``) when ``provider``'s fetch ends."""
        token = self.fetch(provider)
        if token is None:
            return False
        self._waiting.setdefault(token, []).append(stream)
        return True

    def on_http_call_response(self, token: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        provider = self._fetches.pop(token, None)
        waiting = self._waiting.pop(token, [])
        if provider is None:
            return
        installed = install_keys(self, provider, num_headers, body_size)
        for stream in waiting:
            if not stream.make_effective():
                continue  # the stream is gone (the client left)
            try:
                stream.keys_arrived(installed)
            except Exception as error:  # noqa: BLE001 - one stream must not strand the others
                log.error(f"jwt_authn: stream {stream.context_id}: {error!r}")


def start_fetch(context: JwtRoot, provider: Provider) -> int | None:
    """Ask the provider's JWKS cluster for its keys; None when the call could not start."""
    remote = provider.remote
    assert remote is not None
    headers = [(":method", "GET"), (":path", remote.path), (":authority", remote.authority)]
    try:
        return context.http_call(remote.cluster, headers, timeout_ms=remote.timeout_ms)
    except Exception as error:  # noqa: BLE001 - the host refused (unknown cluster, ...)
        log.warn(f"jwt_authn: provider {provider.name}: cannot fetch JWKS from cluster "
                 f"{remote.cluster}: {error}")
        return None


def install_keys(context: JwtRoot, provider: Provider, num_headers: int,
                 body_size: int) -> bool:
    """Read a JWKS answer (inside ``on_http_call_response``) into ``provider``."""
    status = ""
    if num_headers:
        status = dict(context.http_call_response_headers()).get(":status", "")
    if status != "200":
        log.warn(f"jwt_authn: provider {provider.name}: JWKS fetch failed "
                 f"(status {status or 'none'})")
        return False
    try:
        jwks = parse_jwks(context.http_call_response_body(body_size), f"{provider.name} jwks")
    except JwksError as error:
        log.warn(f"jwt_authn: provider {provider.name}: {error}")
        return False
    report_skipped(jwks)
    provider.jwks = jwks
    provider.jwks_fetched_ms = clock.now_ms()
    context.verifier.forget()
    return True


class JwtStream(HttpContext[JwtRoot]):
    """One request: find the rule, extract and check its tokens, forward or refuse.

    (No ``__init__``: the runtime then creates a stream without running Python; the fields
    below are set by ``on_request_headers`` before anything reads them.)"""

    pending: list[Found]
    provider: Provider | None = None
    audiences: list[str] | None = None
    claims: dict[str, list[str]]
    waited = False

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        config = self.root.config
        if config is None:
            return Action.CONTINUE
        request = self.request_headers
        values = list(request.get_many(*config.read_headers))  # one host call
        index = config.header_index
        path = values[0] or "/"  # read_headers[0] is :path
        rule = config.rule_for(path)
        if rule is None:
            return Action.CONTINUE
        if config.bypass_cors_preflight and _preflight(values, index):
            # as Envoy (a preflight carries no credentials), but claim headers still go
            _remove_present(request, values, index, config.sanitized)
            return Action.CONTINUE
        if rule.provider is None:  # skip: Envoy still removes what a token would have set
            _remove_present(request, values, index, config.sanitized)
            return Action.CONTINUE
        provider = self.provider = rule.provider
        self.audiences, self.claims = rule.audiences, rule.claims
        # a client must not be able to pose as a claim
        _remove_present(request, values, index, provider.sanitized)
        self.pending = extract(values, index, path, provider.from_headers,
                               provider.from_params, provider.from_cookies)
        if not self.pending:
            if rule.requirement == "optional":
                return Action.CONTINUE
            return self.refuse(Failure(MISSING))
        return self.decide()

    def decide(self) -> Action:
        """Verify the pending tokens, the last found first (as Envoy: every one must pass);
        may pause to fetch the provider's keys."""
        provider = self.provider
        assert provider is not None
        pending = self.pending
        while pending:
            found = pending[-1]
            token = found[0]
            if provider.max_token_bytes is not None and len(token) > provider.max_token_bytes:
                return self.refuse(Failure(TOO_LARGE))
            outcome = self.root.verifier.check(provider, token, clock.now_ns() // 10**9,
                                               self.audiences)
            if outcome is NEEDS_KEYS:
                if self.waited or not self.root.wait_for_keys(provider, self):
                    return self.refuse(Failure(JWKS_FETCH))
                self.waited = True
                return Action.PAUSE
            if isinstance(outcome, Failure):
                return self.refuse(outcome)
            if self.claims and not claims_allowed(outcome, self.claims):
                return self.refuse(Failure(CLAIMS, 403))
            if outcome.invalid_header is not None:
                # Envoy's router refuses to send such a header: the same answer, without
                # handing the host a CR or LF
                self.send_local_response(503, f"invalid header value for: "
                                         f"{outcome.invalid_header}")
                return Action.PAUSE
            pending.pop()
            self.accept(provider, found, outcome)
        return Action.CONTINUE

    def keys_arrived(self, installed: bool) -> None:
        """The provider's JWKS fetch ended (from the root's callback, this stream effective)."""
        if not installed:
            self.refuse(Failure(JWKS_FETCH))
        elif self.decide() == Action.CONTINUE:
            self.resume_request()

    def accept(self, provider: Provider, found: Found, verified: Verified) -> None:
        """Forward what a verified token gives (headers are added: each token adds its own)."""
        request = self.request_headers
        if provider.forward_payload_header:
            request.add(provider.forward_payload_header, verified.token.payload_segment)
        for header, value in verified.claim_headers:
            request.add(header, value)
        if not provider.forward:
            strip(self, found)
        if provider.payload_in_metadata:
            properties.set(provider.payload_in_metadata, verified.metadata)

    def refuse(self, failure: Failure) -> Action:
        """Answer locally as Envoy's jwt_authn does; returns ``Action.PAUSE``."""
        request = self.request_headers
        realm = (f"{request.get(':scheme') or 'http'}://{request.get(':authority') or ''}"
                 f"{_clipped(request.get(':path') or '/')}")
        challenge = f'Bearer realm="{realm}"'
        if failure.message != MISSING:
            challenge += ', error="invalid_token"'
        self.send_local_response(failure.status, failure.message,
                                 headers=[("www-authenticate", challenge)],
                                 details="jwt_authn_access_denied")
        return Action.PAUSE


def _preflight(values: list[str | None], index: dict[str, int]) -> bool:
    """A CORS preflight: OPTIONS with a non-empty Origin and Access-Control-Request-Method."""
    return (values[index[":method"]] == "OPTIONS" and bool(values[index["origin"]])
            and bool(values[index["access-control-request-method"]]))


def _remove_present(request: HeaderMap, values: list[str | None], index: dict[str, int],
                    names: list[str]) -> None:
    """Remove ``names`` (lower case) from the request, calling the host only for those
    present in ``values`` (the headers read, see ``extract``); they read as absent
    afterwards."""
    for name in names:
        at = index[name]
        if values[at] is not None:
            request.remove(name)
            values[at] = None


#: Envoy's jwt_authn cuts the path in the realm to this many bytes.
REALM_PATH_BYTES = 256


def _clipped(path: str) -> str:
    if len(path) <= REALM_PATH_BYTES // 4:
        return path
    raw = path.encode("utf-8", "surrogateescape")[:REALM_PATH_BYTES]
    return raw.decode("utf-8", "surrogateescape")


def claims_allowed(verified: Verified, required: dict[str, list[str]]) -> bool:
    """Every named claim holds one of its allowed values (a list claim: any element;
    a string claim: the string, or one of its space-separated words, as ``scope`` has)."""
    claims = verified.token.claims
    for name, allowed in required.items():
        value = claims.get(name)
        if isinstance(value, str):
            values = [value, *value.split(" ")]
        elif isinstance(value, list):
            values = [item for item in value if isinstance(item, str)]
        else:
            return False
        if not any(item in allowed for item in values):
            return False
    return True


register(JwtStream, root=JwtRoot)
