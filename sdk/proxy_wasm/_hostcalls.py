"""The raw host-call layer: the one place that differs per host.

Inside a compiled module it is ``_proxy_wasm_abi``, a builtin C module of the meshwasm
runtime.  Anywhere else (an editor, a unit test, the harness's source mode) nothing is bound
until a host calls :func:`bind` with an object offering the same functions.  SDK modules
always go through ``_hostcalls.abi.<call>`` so a later ``bind`` takes effect everywhere.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `from typing`: that would freeze typing into every module

if TYPE_CHECKING:
    from typing import Any

    from .host_protocol import HostCalls


class HostCallError(RuntimeError):
    """A host call returned a failure status.  ``args == (call_name, status)``."""


class _Unbound:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"proxy_wasm.{name}: no proxy host is bound; filters run inside a compiled "
            "module (meshwasm build) or under the meshwasm harness")


abi: HostCalls
#: NATIVE: True inside a compiled module, where ``abi`` is the C module and is never rebound.
try:
    import _proxy_wasm_abi as abi  # type: ignore[import-not-found,no-redef]

    HostCallError = abi.HostCallError  # type: ignore[misc,assignment]  # noqa: F811
    NATIVE = True
except ImportError:
    abi = _Unbound()
    NATIVE = False


def bind(implementation: Any) -> None:
    """Route every host call to ``implementation`` (used by hosts other than the module)."""
    global abi
    abi = implementation
