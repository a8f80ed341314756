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


# The exercises compute on purpose (modular_pow: seconds of pow() on 4096-bit numbers).
# Source mode stands for the step budget with CPU time, which pow() spends while the
# module's interpreter counts no steps for it: the default budget (~2.5 s of CPU in source
# mode) is too close.  The largest budget keeps both engines' guards out of the comparison.
register(StdlibProbe, max_callback_steps=2**31 - 1)
