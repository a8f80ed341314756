"""Raising, fail closed with 502."""

from common import Raising
from proxy_wasm import register

register(Raising, error_status=502)
