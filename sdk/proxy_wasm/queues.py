"""Shared queues: byte messages from any VM to the VM that registered the queue.

The registering root context gets ``on_queue_ready(queue_id)`` when something was enqueued.
"""

from __future__ import annotations

from . import _hostcalls


def register(name: str) -> int:
    """Create (or find) this VM's queue ``name``; returns its id.  Call from a root context."""
    return _hostcalls.abi.register_queue(name)


def resolve(vm_id: str, name: str) -> int | None:
    """The id of queue ``name`` registered by VMs with ``vm_id``, or None if there is none."""
    return _hostcalls.abi.resolve_queue(vm_id, name)


def enqueue(queue_id: int, message: bytes) -> None:
    _hostcalls.abi.enqueue(queue_id, message)


def dequeue(queue_id: int) -> bytes | None:
    """The oldest message, or None when the queue is empty."""
    return _hostcalls.abi.dequeue(queue_id)
