"""What the proxy does with a plugin whose VM failed (a trap): Envoy's ``failure_policy``.

The same three values as Envoy's ``envoy.extensions.wasm.v3.FailurePolicy`` and Istio's
``WasmPlugin.failStrategy`` (which spells the closed one ``FAIL_CLOSE``):

- ``FAIL_CLOSED``: every later request of that VM is answered 503;
- ``FAIL_OPEN``: later requests pass as if the filter were absent;
- ``FAIL_RELOAD``: a request starts a new VM from the module (its per-VM state - module
  globals, root context, ticks - is lost; shared data and queues survive, they belong to the
  proxy), once Envoy's reload back-off has passed (``reload_config``, 1 s at first, jittered
  and growing); requests before that are answered 503 (``harness/stream.py`` models it).
"""

from __future__ import annotations

FAIL_CLOSED = "FAIL_CLOSED"
FAIL_OPEN = "FAIL_OPEN"
FAIL_RELOAD = "FAIL_RELOAD"
POLICIES = (FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD)


def check_policy(policy: str) -> str:
    """``policy`` if it is one of ``POLICIES``; ``ValueError`` naming them otherwise."""
    if policy not in POLICIES:
        raise ValueError(f"failure policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    return policy
