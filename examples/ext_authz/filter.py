"""ext_authz: ask an external authorizer before letting a request through.

``on_request_headers`` sends the request's method, path and ``authorization`` header to the
``authz`` cluster with ``http_call`` and pauses the stream.  When the answer comes
(``on_http_call_response``): 200 resumes the request, with the authorizer's ``x-user``
passed upstream; anything else, or no answer, is a local 403 carrying the authorizer's body.

A request with a body needs ``on_request_body`` to hold the body while the answer is pending:
in Envoy a body callback answering Continue resumes headers paused in ``on_request_headers``.
"""

from proxy_wasm import Action, HttpContext, log, register

CLUSTER = "authz"


class ExtAuthz(HttpContext):
    waiting = False

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        path = self.request_headers.get(":path", "/")
        headers = [(":method", "GET"), (":path", "/check"), (":authority", CLUSTER),
                   ("x-original-path", path),
                   ("x-original-method", self.request_headers.get(":method", "GET"))]
        token = self.request_headers.get("authorization")
        if token is not None:
            headers.append(("authorization", token))
        self.http_call(CLUSTER, headers, timeout_ms=2000)
        log.info(f"ext_authz: asked {CLUSTER} about {path}")
        self.waiting = True
        return Action.PAUSE

    def on_request_body(self, body_size: int, end_of_stream: bool) -> Action:
        return Action.PAUSE if self.waiting else Action.CONTINUE

    def on_http_call_response(self, token: int, num_headers: int, body_size: int,
                              num_trailers: int) -> None:
        self.waiting = False
        answer = dict(self.http_call_response_headers())
        status = answer.get(":status", "no answer")
        if status == "200":
            log.info(f"ext_authz: allowed ({answer.get('x-user', 'anonymous')})")
            self.request_headers.set("x-user", answer.get("x-user", "anonymous"))
            self.resume_request()
            return
        body = self.http_call_response_body(body_size)
        log.info(f"ext_authz: denied ({status})")
        self.send_local_response(403, body or b"denied\n",
                                 headers=[("x-authz-status", status)],
                                 details="ext_authz_denied")


register(ExtAuthz)
