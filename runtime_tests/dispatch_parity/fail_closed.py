"""Edge, failing closed with 503."""

from common import Edge, EdgeRoot
from proxy_wasm import register

register(Edge, root=EdgeRoot, error_status=503, max_callback_steps=300_000)
