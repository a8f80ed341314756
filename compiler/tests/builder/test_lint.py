"""``meshwasm build`` warns about on_* methods that are no callbacks and callbacks that do
not return an Action."""

from __future__ import annotations

from pathlib import Path

from meshwasm.builder.lint import lint_sources

FILTER = '''
from proxy_wasm import Action, HttpContext, RootContext
import proxy_wasm


class Root(RootContext):
    def on_configure(self, configuration):
        return True

    def on_tik(self):
        pass


class Base(proxy_wasm.HttpContext):
    def on_request_header(self, num_headers, end_of_stream):
        return Action.CONTINUE


class Auth(Base):
    def on_request_headers(self, num_headers, end_of_stream):
        if end_of_stream:
            return True
        if num_headers > 100:
            return
        return self.decide()

    def on_response_headers(self, num_headers, end_of_stream):
        def nested():
            return 42
        self.response_headers.set("x", "y")

    def on_response_body(self, body_size, end_of_stream):
        if end_of_stream:
            raise ValueError("no")
        return Action.PAUSE

    def on_log(self):
        pass

    def on_validate(self):
        pass

    def decide(self):
        return Action.CONTINUE


class Unrelated:
    def on_request_header(self):
        return True
'''


def test_warnings_name_file_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "filter.py"
    path.write_text(FILTER)
    messages = [f"{warning.line}: {warning.message}" for warning in lint_sources([path])]
    assert messages == [
        "10: Root.on_tik is not a callback of RootContext, so it is never called: did you "
        "mean on_tick?",
        "15: Base.on_request_header is not a callback of HttpContext, so it is never called: "
        "did you mean on_request_headers?",
        "22: Auth.on_request_headers returns True, not an Action (return Action.CONTINUE or "
        "Action.PAUSE)",
        "24: Auth.on_request_headers returns None, not an Action (return Action.CONTINUE or "
        "Action.PAUSE)",
        "27: Auth.on_response_headers can end without returning an Action (None is read as "
        "Action.CONTINUE; return it explicitly)",
        "40: Auth.on_validate is not a callback of HttpContext, so it is never called (its "
        "callbacks: on_delete, on_done, on_grpc_close, on_grpc_receive, "
        "on_grpc_receive_initial_metadata, on_grpc_receive_trailing_metadata, "
        "on_http_call_response, on_log, on_request_body, on_request_headers, "
        "on_request_trailers, on_response_body, on_response_headers, on_response_trailers)",
    ]
    assert all(warning.path == path for warning in lint_sources([path]))


def test_the_shipped_filters_and_examples_have_no_warnings() -> None:
    project = Path(__file__).resolve().parents[3]
    sources = sorted((project / "filters").rglob("*.py")) + \
        sorted((project / "examples").rglob("*.py"))
    assert sources
    assert [str(warning) for warning in lint_sources(sources)] == []
