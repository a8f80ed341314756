"""The plugin tests drive inner pytest runs with ``pytester``.

(``pytest_plugins`` is only honoured in the root conftest, so the plugin is loaded here.)"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
