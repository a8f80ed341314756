"""Raising, fail open."""

from common import Raising
from proxy_wasm import register

register(Raising, fail_open=True)
