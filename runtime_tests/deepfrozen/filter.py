"""Imports CPython's own frozen modules at request time: posixpath lazily (named in the code,
so imported while the module is built), and any name a request asks for (x-import)."""

import importlib
from proxy_wasm import Action, HttpContext, register


class Lazy(HttpContext):
    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        import posixpath
        self.request_headers.set("x-joined", posixpath.join("a", "b"))
        name = self.request_headers.get("x-import", "")
        if name:
            try:
                importlib.import_module(name)
                self.request_headers.set("x-import-result", "ok")
            except ImportError as error:
                self.request_headers.set("x-import-result", f"ImportError: {error}")
        return Action.CONTINUE


register(Lazy)
