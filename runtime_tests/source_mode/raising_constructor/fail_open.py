"""Fragile, fail open."""

from common import Counting, Fragile
from proxy_wasm import register

register(Fragile, root=Counting, fail_open=True)
