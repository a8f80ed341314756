"""Source mode's memory ceiling (harness/source_memory.py) follows the module's rules
(glue/vm_limits.c) on an address space the test controls."""

from __future__ import annotations

import pytest

from meshwasm.harness import abi, source_memory
from meshwasm.harness.errors import GuestTrap
from meshwasm.harness.source_memory import RUNTIME_MIB, STOP_MESSAGE, VmMemory

MIB = 1 << 20


@pytest.fixture
def space(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The address space the VMs see: set ``space[0]``."""
    value = [1000 * MIB]
    monkeypatch.setattr(source_memory, "address_space", lambda: value[0])
    return value


def _vm(ceiling: int, logs: list[tuple[int, str]]) -> VmMemory:
    return VmMemory(ceiling, 2 * MIB, lambda level, text: logs.append((level, text)))


def _callback(vm: VmMemory, space: list[int], grow_mib: int, context: int = 7,
              is_stream: bool = True) -> bool:
    vm.begin("on_request_headers", context, ends_stream=False)
    space[0] += grow_mib * MIB
    return vm.end(context, is_stream)


def test_growth_is_kept_and_crossing_fails_that_request(space: list[int]) -> None:
    logs: list[tuple[int, str]] = []
    vm = _vm(64, logs)
    assert vm.mib() == RUNTIME_MIB + 2  # the runtime and the filter's import
    assert _callback(vm, space, 30) is False
    space[0] -= 30 * MIB  # the process gave memory back: Wasm memory would not shrink
    assert _callback(vm, space, 0) is False and vm.mib() == RUNTIME_MIB + 32
    assert _callback(vm, space, 40) is True  # crossed: this request fails by the policy
    assert logs == [(abi.LOG_ERROR, "meshwasm: on_request_headers: the VM's memory reached "
                                    f"{RUNTIME_MIB + 72} MiB, past its ceiling of 64 MiB "
                                    "(register(max_memory_mb=...)); the VM will be replaced")]
    # the crossing request goes on; its last callback, or another's, stops the VM
    assert _callback(vm, space, 0) is False
    with pytest.raises(GuestTrap, match="past its ceiling"):
        vm.begin("on_delete", 7, ends_stream=True)
    with pytest.raises(GuestTrap):
        vm.begin("on_request_headers", 8, ends_stream=False)
    assert logs[-1] == (abi.LOG_CRITICAL, STOP_MESSAGE)


def test_crossing_in_a_root_callback_stops_the_vm_at_once(space: list[int]) -> None:
    logs: list[tuple[int, str]] = []
    vm = _vm(16, logs)
    with pytest.raises(GuestTrap):
        _callback(vm, space, 20, context=1, is_stream=False)
    assert [level for level, _ in logs] == [abi.LOG_ERROR, abi.LOG_CRITICAL]


def test_no_ceiling_and_nested_callbacks(space: list[int]) -> None:
    outer, inner = _vm(0, []), _vm(0, [])
    outer.begin("on_tick", 1, ends_stream=False)
    space[0] += 3 * MIB
    inner.begin("on_queue_ready", 1, ends_stream=False)
    space[0] += 5 * MIB
    assert inner.end(1, is_stream=False) is False
    assert outer.end(1, is_stream=False) is False
    # each VM counts only its own growth; no ceiling (0) never fails
    assert (outer.mib(), inner.mib()) == (RUNTIME_MIB + 2 + 3, RUNTIME_MIB + 2 + 5)
    outer.begin("on_tick", 1, ends_stream=False)
    outer.discard()  # a callback that raised is not counted, and leaves nothing behind
    assert source_memory._measuring == []
