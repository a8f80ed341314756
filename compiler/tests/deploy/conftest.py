"""Fixtures for the deploy tests: a real OCI registry on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meshwasm_testkit.local_registry import LocalRegistry, RegistryStartError, run_registry


@pytest.fixture
def registry() -> Iterator[LocalRegistry]:
    """Debian's docker-registry on 127.0.0.1, empty, stopped after the test.

    A missing binary FAILS the test (``make test`` installs it): distribution must not go
    untested silently.
    """
    try:
        with run_registry() as running:
            yield running
    except RegistryStartError as error:
        pytest.fail(f"cannot start the OCI registry the distribution tests need: {error}",
                    pytrace=False)
