"""pytest plugin: traffic files as tests, and fixtures to build and drive filters from Python.

Registered through the ``pytest11`` entry point, so installing meshwasm enables it; it stays
inert until asked:

- **Traffic files** are collected only with ``--meshwasm-traffic`` (or ``meshwasm_traffic =
  true`` in the ini file), so a project whose own tests read traffic files (as meshwasm's do)
  is not collected twice.  Collected then: ``NAME.traffic.yaml`` (against ``NAME.py`` beside
  it, else ``filter.py``) and ``traffic.yaml`` in a folder holding a ``filter.py``.  Each
  request of a file is one test item, named after the request; the file is replayed once, in
  order, in one VM (requests may depend on what earlier ones did), and each item checks its
  own verdict.  ``--meshwasm-engine harness`` (default, as ``meshwasm replay``; ``compiled``
  is an older name for it: the filter is built with
  ``meshwasm.builder.pipeline.build_filter``, cached by input hash), ``source`` (run from
  source) or ``envoy`` (the built module in a real Envoy on loopback).
- **Fixtures**: ``meshwasm_build(filter_path) -> module path`` and
  ``meshwasm_plugin(filter_path, plugin_config=None) -> FilterDriver`` (send requests, read
  headers, logs and metrics).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshwasm import engines
from meshwasm.harness import source_watchdog

# A source-mode callback stuck in C code ends the test process (harness/source_watchdog.py)
# before pytest could show what it captured: the report goes to the stderr pytest started
# with, kept as the plugin is loaded (before capturing begins).
with contextlib.suppress(OSError):
    source_watchdog.report_fd = os.dup(2)

#: the names of ``meshwasm replay --engine`` (meshwasm.engines)
ENGINES = engines.names()
#: older names, still accepted
ENGINE_ALIASES = engines.ALIASES
_SESSION = pytest.StashKey["_Session"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("meshwasm", "meshwasm traffic files")
    group.addoption("--meshwasm-traffic", action="store_true", default=None,
                    help="collect *.traffic.yaml files (and traffic.yaml beside a filter.py) "
                         "as tests, one per request")
    group.addoption("--meshwasm-engine", choices=ENGINES + tuple(ENGINE_ALIASES),
                    default=None,
                    help="as meshwasm replay --engine: the built module in the harness "
                         "(default; 'compiled' is an older name), the filter from source, or "
                         "the built module in a real Envoy")
    parser.addini("meshwasm_traffic", "collect traffic files as tests", type="bool",
                  default=False)
    parser.addini("meshwasm_engine", "default engine: harness, source or envoy",
                  default="harness")


def _renamed(engine: str) -> str:
    return (f"meshwasm engine {engine!r} is now called {ENGINE_ALIASES[engine]!r} (the name "
            f"meshwasm replay --engine uses); {engine!r} still works but will be removed")


class _Session:
    """Per-session state: the engine, and modules built so far (one build per filter)."""

    def __init__(self, config: pytest.Config) -> None:
        engine: str = config.getoption("meshwasm_engine") or config.getini("meshwasm_engine")
        self.engine = ENGINE_ALIASES.get(engine, engine)
        if engine in ENGINE_ALIASES:
            config.issue_config_time_warning(
                pytest.PytestDeprecationWarning(_renamed(engine)), stacklevel=2)
        if self.engine not in ENGINES:
            raise pytest.UsageError(f"meshwasm_engine = {self.engine!r}: expected one of "
                                    f"{', '.join(ENGINES)}")
        option = config.getoption("meshwasm_traffic")
        self.collect = bool(config.getini("meshwasm_traffic") if option is None else option)
        self._out: Path | None = None
        self._built: dict[Path, Path] = {}

    def build(self, filter_path: Path) -> Path:
        from meshwasm.builder.pipeline import build_filter
        filter_path = Path(filter_path).resolve()
        if filter_path not in self._built:
            if self._out is None:
                self._out = Path(tempfile.mkdtemp(prefix="meshwasm-pytest-"))
            output = self._out / f"{len(self._built)}-{filter_path.stem}.wasm"
            self._built[filter_path] = build_filter(filter_path, output).output
        return self._built[filter_path]

    def close(self) -> None:
        if self._out is not None:
            shutil.rmtree(self._out, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SESSION] = _Session(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.close()


def filter_beside(traffic: Path) -> Path | None:
    """The filter a traffic file is replayed against (None: not a traffic file of a filter)."""
    if traffic.name.endswith(".traffic.yaml"):
        named = traffic.with_name(traffic.name[:-len(".traffic.yaml")] + ".py")
        if named.is_file():
            return named
    elif traffic.name != "traffic.yaml":
        return None
    default = traffic.with_name("filter.py")
    return default if default.is_file() else None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.stash[_SESSION].collect:
        return None
    if not (file_path.name.endswith(".traffic.yaml") or file_path.name == "traffic.yaml"):
        return None
    if file_path.name == "traffic.yaml" and filter_beside(file_path) is None:
        return None  # a traffic.yaml with no filter.py beside it is somebody else's file
    return TrafficFile.from_parent(parent, path=file_path)


class TrafficFile(pytest.File):
    """One traffic file; replays it once (lazily) and hands each request's verdict out."""

    def collect(self) -> Iterator[TrafficItem]:
        from meshwasm.replay.traffic import TrafficError, load_traffic
        if filter_beside(self.path) is None:
            raise self.CollectError(
                f"{self.path}: no filter to replay it against (expected "
                f"{self.path.name[:-len('.traffic.yaml')]}.py or filter.py beside it)")
        try:
            self.traffic = load_traffic(self.path)
        except TrafficError as error:
            raise self.CollectError(str(error)) from None
        self._verdicts: list[Any] | None = None
        self._error: Exception | None = None
        for index, exchange in enumerate(self.traffic.exchanges):
            yield TrafficItem.from_parent(self, name=exchange.name, index=index)

    def verdicts(self) -> list[Any]:
        """Replay the whole file once in the session's engine; re-raises a failure to run."""
        if self._verdicts is None and self._error is None:
            try:
                self._verdicts = _replay(self.config.stash[_SESSION], self.path, self.traffic)
            except Exception as error:  # noqa: BLE001 - reported by every item of the file
                self._error = error
        if self._error is not None:
            raise self._error
        return self._verdicts  # type: ignore[return-value]


def _replay(session: _Session, traffic_path: Path, traffic: Any) -> list[Any]:
    filter_path = filter_beside(traffic_path)
    assert filter_path is not None
    engine = engines.get(session.engine)
    return engine.replay(engine.target(filter_path, lambda: session.build(filter_path)),
                         traffic)


class TrafficMismatch(AssertionError):
    """A request's verdict is not as its traffic file expects."""


class TrafficItem(pytest.Item):
    """One request of a traffic file."""

    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index

    def runtest(self) -> None:
        from meshwasm.replay.expect import Outcome, compare
        parent: TrafficFile = self.parent  # type: ignore[assignment]
        exchange = parent.traffic.exchanges[self.index]
        verdict = parent.verdicts()[self.index]
        mismatches = compare(exchange.expect, verdict)
        if mismatches:
            raise TrafficMismatch(Outcome(exchange, verdict, mismatches))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        if isinstance(excinfo.value, TrafficMismatch):
            return render_outcome(self.parent.traffic, excinfo.value.args[0],  # type: ignore
                                  self.index, self.config.stash[_SESSION].engine)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        exchange = self.parent.traffic.exchanges[self.index]  # type: ignore[attr-defined]
        return self.path, max(exchange.line - 1, 0), f"request #{self.index + 1}: {self.name}"


def render_outcome(traffic: Any, outcome: Any, index: int, engine: str) -> str:
    """The request as sent, then ``expect.render_report``'s expected/actual block for it."""
    from rich.console import Console

    from meshwasm.replay.expect import render_report
    from meshwasm.replay.model import Traffic
    request = outcome.exchange.request
    lines = [f"request #{index + 1} ({traffic.path}:{outcome.exchange.line}), engine {engine}:",
             f"  {request.method} {request.path}  (authority {request.authority})"]
    lines += [f"  {name}: {value}" for name, value in request.headers]
    if request.body:
        lines.append(f"  body: {request.body[:200]!r}")
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, no_color=True, highlight=False)
    console.print(render_report(Traffic(traffic.path, traffic.plugin_config,
                                        [outcome.exchange]), [outcome], engine), soft_wrap=True)
    return "\n".join(lines) + "\n" + buffer.getvalue().rstrip()


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def meshwasm_build(pytestconfig: pytest.Config) -> Callable[[Path | str], Path]:
    """``meshwasm_build(filter_path) -> module path``: built once per session per filter."""
    return lambda filter_path: pytestconfig.stash[_SESSION].build(Path(filter_path))


@dataclass
class FilterDriver:
    """A filter loaded into a fresh harness VM (compiled or from source), to send requests
    from Python.  ``plugin`` is the ``CompiledPlugin``/``SourcePlugin`` (its ``host`` is the
    host model: contexts, shared data, metrics)."""

    plugin: Any
    engine: str

    @property
    def host(self) -> Any:
        return self.plugin.host

    @property
    def startup_logs(self) -> list[Any]:
        return self.plugin.startup_logs

    def run(self, exchange: Any) -> Any:
        """Replay one ``meshwasm.replay.model.Exchange``; returns its ``Verdict``."""
        return self.plugin.run(exchange)

    def request(self, path: str = "/", *, method: str = "GET",
                headers: dict[str, str] | list[tuple[str, str]] | None = None,
                body: bytes | str = b"", upstream_status: int = 200,
                upstream_headers: dict[str, str] | None = None,
                upstream_body: bytes | str = b"") -> Any:
        """Send one request (the upstream answers as told); returns the ``Verdict``: status,
        headers, body, logs, ``upstream_request`` (None when the filter answered itself)."""
        from meshwasm.replay.model import Exchange, Expectation, HttpRequest, UpstreamResponse
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        as_bytes = (lambda data: data.encode() if isinstance(data, str) else data)
        exchange = Exchange(
            name=f"{method} {path}",
            request=HttpRequest(method=method, path=path, headers=pairs, body=as_bytes(body)),
            upstream=UpstreamResponse(status=upstream_status,
                                      headers=list((upstream_headers or {}).items()),
                                      body=as_bytes(upstream_body)),
            expect=Expectation())
        return self.plugin.run(exchange)

    def metrics(self) -> dict[str, int]:
        """Metric name -> value, as the host model holds them."""
        return self.host.metric_values()


@pytest.fixture
def meshwasm_plugin(pytestconfig: pytest.Config) -> Callable[..., FilterDriver]:
    """``meshwasm_plugin(filter_path, plugin_config=None, engine=None) -> FilterDriver``.

    ``plugin_config`` follows ``meshwasm.plugin_config``'s rule, as ``replay`` and Istio send
    it: a mapping or list becomes JSON, a string or bytes go as is, a ``Path`` names a
    configuration file (``.yaml``/``.json`` read as data, others byte for byte).  The engine defaults to the session's (``--meshwasm-engine``); ``envoy`` has no
    request-by-request driver and runs the compiled module in the harness instead.
    """
    session: _Session = pytestconfig.stash[_SESSION]

    def start(filter_path: Path | str, plugin_config: Any = None,
              engine: str | None = None) -> FilterDriver:
        from meshwasm.plugin_config import as_config_bytes
        if engine in ENGINE_ALIASES:
            warnings.warn(_renamed(engine), DeprecationWarning, stacklevel=2)
        chosen = ENGINE_ALIASES.get(engine, engine) if engine else session.engine
        if chosen not in ENGINES:
            raise ValueError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
        config = as_config_bytes(plugin_config)
        if chosen == "source":
            from meshwasm.harness.source import SourcePlugin
            return FilterDriver(SourcePlugin(Path(filter_path), config), "source")
        from meshwasm.harness import CompiledPlugin
        return FilterDriver(CompiledPlugin(session.build(Path(filter_path)), config), "harness")

    return start
