"""body_rewrite: replace a word in text responses.

The response's length changes, so ``content-length`` must go in ``on_response_headers``
(Envoy then sends the body chunked); ``on_response_body`` holds every chunk until the end of
the stream (``Action.PAUSE`` buffers it), then rewrites the whole body at once, so a word
split across chunks is still found.
"""

import json

from proxy_wasm import Action, HttpContext, RootContext, log, register


class RewriteRoot(RootContext):
    old = b"world"
    new = b"meshwasm"

    def on_configure(self, configuration: bytes) -> bool:
        settings = json.loads(configuration or b"{}")
        self.old = settings.get("replace", "world").encode()
        self.new = settings.get("with", "meshwasm").encode()
        return True


class Rewrite(HttpContext[RewriteRoot]):  # self.root is a RewriteRoot (for type checkers)
    active = False

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        content_type = self.response_headers.get("content-type", "")
        self.active = content_type.startswith("text/") and not end_of_stream
        if self.active:
            self.response_headers.remove("content-length")
        return Action.CONTINUE

    def on_response_body(self, body_size: int, end_of_stream: bool) -> Action:
        if not self.active:
            return Action.CONTINUE
        if not end_of_stream:
            return Action.PAUSE  # keep buffering until the whole body is here
        body = self.get_response_body(0, body_size)
        count = body.count(self.root.old)
        self.set_response_body(body.replace(self.root.old, self.root.new))
        log.info(f"body_rewrite: replaced {count} in {body_size} bytes")
        return Action.CONTINUE


register(Rewrite, root=RewriteRoot)
