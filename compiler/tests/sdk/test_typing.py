"""The SDK is fully typed and type checkers see it after the README's set-up: mypy --strict
passes on the SDK, the examples and the shipped filters, and mypy and pyright resolve
``proxy_wasm`` from an unrelated folder through the editable install (PEP 561:
sdk/proxy_wasm/py.typed), with ``HeaderMap.get`` as ``str | None`` and ``self.root`` typed
by ``HttpContext[Root]``."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
FILTERS = sorted(path for path in (PROJECT / "filters").iterdir()
                 if (path / "filter.py").is_file())
# A filter written the way the README shows, with the reveal_type lines both checkers know.
TYPED_FILTER = textwrap.dedent("""
    from proxy_wasm import Action, HttpContext, RootContext, register

    class Limits(RootContext):
        budget: int = 3

    class Limited(HttpContext[Limits]):
        def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
            reveal_type(self.request_headers.get("a"))
            reveal_type(self.request_headers.get("a", ""))
            reveal_type(self.root.budget)
            return Action.CONTINUE

    class Plain(HttpContext):
        def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
            reveal_type(self.root)
            wrong: int = self.request_headers.get("a")
            return Action.CONTINUE

    register(Limited, root=Limits)
""")


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_sdk_and_examples_pass_mypy_strict() -> None:
    examples = [str(path.relative_to(PROJECT)) for path in
                sorted((PROJECT / "examples").glob("*/filter.py"))]
    # one run per example: they are all modules named `filter`
    for example in ["examples/hello/filter.py", *examples]:
        result = _run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                       "sdk/proxy_wasm", example], PROJECT)
        assert result.returncode == 0, example + "\n" + result.stdout + result.stderr


@pytest.mark.parametrize("folder", FILTERS, ids=lambda path: path.name)
def test_shipped_filters_pass_mypy_strict(folder: Path) -> None:
    result = _run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                   *sorted(str(path) for path in folder.glob("*.py"))], folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_mypy_sees_the_installed_sdk_from_any_folder(tmp_path: Path) -> None:
    (tmp_path / "my_filter.py").write_text(TYPED_FILTER)
    result = _run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                   "my_filter.py"], tmp_path)
    notes = re.findall(r'Revealed type is "([^"]+)"', result.stdout)
    assert notes == ["str | None", "str", "int", "proxy_wasm.context.RootContext"], \
        result.stdout
    # the one error is the deliberate one: proxy_wasm is typed, not Any
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "has type \"str | None\", variable has type \"int\"" \
        in errors[0], result.stdout


def test_pyright_sees_the_installed_sdk_from_any_folder(tmp_path: Path) -> None:
    (tmp_path / "my_filter.py").write_text(TYPED_FILTER)
    result = _run([sys.executable, "-m", "pyright", "--pythonpath", sys.executable,
                   "my_filter.py"], tmp_path)
    output = result.stdout + result.stderr
    assert "reportMissingImports" not in output and "Unknown" not in output, output
    types = re.findall(r' is "([^"]+)"$', output, re.MULTILINE)
    assert types == ["str | None", "str", "int", "RootContext"], output
    assert "1 error" in output and "reportAssignmentType" in output, output


def test_py_typed_marker_ships_with_the_package() -> None:
    assert (PROJECT / "sdk" / "proxy_wasm" / "py.typed").exists()
    import proxy_wasm

    assert Path(proxy_wasm.__file__).with_name("py.typed").exists()


def test_http_context_subscript_is_the_class_at_run_time() -> None:
    from proxy_wasm import HttpContext, RootContext

    class Root(RootContext):
        pass

    class Stream(HttpContext[Root]):
        pass

    assert HttpContext[Root] is HttpContext
    assert Stream.__mro__[1] is HttpContext
    assert "typing" not in {base.__module__ for base in HttpContext.__mro__}
