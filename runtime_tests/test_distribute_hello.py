"""Acceptance for distribution: build hello, push it to a loopback registry, pull it back by
digest, and run the pulled module in a real Envoy with every expectation of its traffic met."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm.deploy.envoy.replay import replay_in_envoy
from meshwasm_testkit.local_registry import LocalRegistry, RegistryStartError, run_registry
from meshwasm.deploy.oci.transfer import pull, push
from meshwasm.replay.expect import evaluate
from meshwasm.replay.traffic import load_traffic

from .conftest import PROJECT

HELLO = PROJECT / "examples" / "hello"


@pytest.fixture
def registry() -> Iterator[LocalRegistry]:
    """A loopback registry for one test; a missing binary fails the test (make test installs it)."""
    try:
        with run_registry() as running:
            yield running
    except RegistryStartError as error:
        pytest.fail(f"cannot start the OCI registry this test needs: {error}", pytrace=False)


@pytest.mark.slow
@pytest.mark.envoy
@pytest.mark.parametrize("variant", ["oci", "compat"])
def test_pushed_and_pulled_hello_passes_its_traffic_in_envoy(registry: LocalRegistry,
                                                             tmp_path: Path, variant: str) -> None:
    built = tmp_path / "hello.wasm"
    build_filter(HELLO / "filter.py", built)
    pushed = push(built, f"{registry.host}/meshwasm/hello:v1", variant=variant)
    pulled_path = tmp_path / "pulled.wasm"
    pulled = pull(f"oci://{pushed.pinned}", pulled_path)
    assert pulled.digest == pushed.digest
    assert pulled_path.read_bytes() == built.read_bytes()

    traffic = load_traffic(HELLO / "traffic.yaml")
    outcomes = evaluate(traffic, replay_in_envoy(pulled_path, traffic))
    assert [o.mismatches for o in outcomes] == [[] for _ in outcomes]
