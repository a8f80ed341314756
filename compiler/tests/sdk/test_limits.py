"""register()'s limits: refused when they are not positive integers in range, naming the
argument; recorded otherwise (the runtime reads them from the registration)."""

from __future__ import annotations

import pytest

from proxy_wasm import HttpContext, LimitExceeded, register
from proxy_wasm._registry import registration
from proxy_wasm.limits import DEFAULT_MAX_CALLBACK_STEPS, DEFAULT_MAX_MEMORY_MB


class Plain(HttpContext):
    pass


def test_the_defaults_are_recorded() -> None:
    register(Plain)
    active = registration()
    assert active is not None
    assert (active.max_callback_steps, active.max_memory_mb) == (DEFAULT_MAX_CALLBACK_STEPS,
                                                                 DEFAULT_MAX_MEMORY_MB)


def test_given_limits_are_recorded() -> None:
    register(Plain, max_callback_steps=1000, max_memory_mb=64)
    active = registration()
    assert active is not None and (active.max_callback_steps, active.max_memory_mb) == (1000, 64)


@pytest.mark.parametrize(("argument", "value"), [
    ("max_callback_steps", 0), ("max_callback_steps", -5), ("max_callback_steps", 2**31),
    ("max_callback_steps", 1.5), ("max_callback_steps", True), ("max_memory_mb", 0),
    ("max_memory_mb", 4097), ("max_memory_mb", "64")])
def test_bad_limits_are_refused_naming_the_argument(argument: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"register\(\): {argument} must be an integer"):
        register(Plain, **{argument: value})  # type: ignore[arg-type]


def test_limit_exceeded_is_not_an_exception_a_filter_catches_by_accident() -> None:
    assert issubclass(LimitExceeded, BaseException)
    assert not issubclass(LimitExceeded, Exception)
