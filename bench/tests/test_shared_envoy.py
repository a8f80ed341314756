"""bench/shared_envoy.py's bootstrap merge (no Envoy): every variant keeps its own filters on
its own listener and port, wasm plugins get their own VM, clusters are shared or refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from meshwasm.deploy.envoy.config import WASM_FILTER, EnvoyOptions, bootstrap

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import shared_envoy  # noqa: E402


def _listener(key: str, module: Path | None) -> shared_envoy.Listener:
    return shared_envoy.Listener(key, bootstrap(EnvoyOptions(upstream_port=9, module=module)),
                                 [], [("/", {})])


def _http_filters(listener: dict) -> list[dict]:  # type: ignore[type-arg]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm["http_filters"]  # type: ignore[no-any-return]


def test_each_variant_gets_its_listener_port_and_vm(tmp_path: Path) -> None:
    module = tmp_path / "f.wasm"
    variants = [_listener("none", None), _listener("one", module), _listener("two", module)]
    merged, ports = shared_envoy.merged_bootstrap(variants)
    listeners = merged["static_resources"]["listeners"]
    assert [item["name"] for item in listeners] == ["bench_none", "bench_one", "bench_two"]
    assert [item["address"]["socket_address"]["port_value"] for item in listeners] == \
        [ports["none"], ports["one"], ports["two"]]
    assert len(set(ports.values())) == 3
    assert [f["name"] for f in _http_filters(listeners[0])] == ["envoy.filters.http.router"]
    vm_ids = [f["typed_config"]["config"]["vm_config"]["vm_id"]
              for item in listeners[1:] for f in _http_filters(item) if f["name"] == WASM_FILTER]
    assert vm_ids == ["one", "two"]
    assert len(merged["static_resources"]["clusters"]) == 1  # the same upstream, once
    # the variants' own bootstraps are left as they were
    assert variants[1].config["static_resources"]["listeners"][0]["name"] != "bench_one"


def test_two_different_clusters_of_one_name_are_refused() -> None:
    first = _listener("a", None)
    other = shared_envoy.Listener("b", bootstrap(EnvoyOptions(upstream_port=10)), [], [])
    with pytest.raises(ValueError, match="b: cluster 'meshwasm_upstream' differs"):
        shared_envoy.merged_bootstrap([first, other])


def test_batches_cover_every_request_once() -> None:
    requests = [(f"/{index}", {}) for index in range(10)]
    cut = shared_envoy.batches(requests, 3)  # type: ignore[arg-type]
    assert [len(batch) for batch in cut] == [3, 3, 4]
    assert [item for batch in cut for item in batch] == requests
