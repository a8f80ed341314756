"""A filter that raises never takes the VM or Envoy down: the traceback is logged and the
error policy answers.  Covers compiling source at request time, which the pruned module
refuses with a Python RuntimeError instead of a trap."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm.harness import replay_module
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic

HERE = Path(__file__).resolve().parent / "errors"


@pytest.fixture(scope="module")
def eval_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("errors") / "eval_at_runtime.wasm"
    return build_filter(HERE / "eval_at_runtime.py", out).output


@pytest.mark.parametrize("engine", ["harness", pytest.param("envoy", marks=pytest.mark.envoy)])
def test_eval_at_request_time_fails_closed_and_the_vm_survives(eval_module: Path,
                                                               engine: str) -> None:
    traffic = load_traffic(HERE / "eval_at_runtime.traffic.yaml")
    replay = replay_module if engine == "harness" else replay_in_envoy
    verdicts = replay(eval_module, traffic)
    assert [o.mismatches for o in evaluate(traffic, verdicts)] == [[], [], []]
    error_log = next(line.message for line in verdicts[1].logs if line.level == "error")
    assert 'File "eval_at_runtime.py", line 9, in on_request_headers' in error_log
    assert error_log.rstrip().endswith("all code is compiled at build time")
