"""Fragile, fail closed with 503."""

from common import Counting, Fragile
from proxy_wasm import register

register(Fragile, root=Counting, error_status=503)
