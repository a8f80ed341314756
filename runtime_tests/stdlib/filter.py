"""Runs one stdlib exercise per request (path /NAME) and answers with its JSON result."""

import json

from exercises import EXERCISES
from proxy_wasm import Action, HttpContext, register


class StdlibProbe(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        name = self.request_headers.get(":path", "/").lstrip("/")
        try:
            body = json.dumps(EXERCISES[name](), sort_keys=True, default=repr)
            status = 200
        except Exception as error:  # the answer names what went wrong, for the diff
            body, status = f"{type(error).__name__}: {error}", 500
        self.send_local_response(status, body.encode())
        return Action.PAUSE


register(StdlibProbe)
