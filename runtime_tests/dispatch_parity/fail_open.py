"""Edge, failing open."""

from common import Edge, EdgeRoot
from proxy_wasm import register

register(Edge, root=EdgeRoot, fail_open=True, max_callback_steps=300_000)
