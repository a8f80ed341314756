"""Options shared by ``envoy-config``, ``run``, ``replay`` and ``dev``: how the Envoy around
a module looks, and the plugin configuration it gets.

Not a command (it is not in ``COMMAND_MODULES``): a decorator adding the options, and the
conversion of their values into ``EnvoyOptions``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from meshwasm.deploy.envoy.config import EnvoyOptions
from meshwasm.failure_policy import FAIL_CLOSED, FAIL_OPEN, FAIL_RELOAD
from meshwasm.module_check import NotAModuleError, check_module
from meshwasm.plugin_config import PluginConfigError, config_file_bytes

F = TypeVar("F", bound=Callable[..., Any])


def parse_host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ``click.BadParameter`` otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{text!r}: expected HOST:PORT", param_hint="--upstream")
    return host.strip("[]"), int(port)


#: --fail-closed / --fail-open / --fail-reload: Envoy's failure_policy, as ``failure_policy``
#: (also used by ``replay``, whose harness models the three)
FAILURE_POLICY_OPTIONS = (
    click.option("--fail-closed", "failure_policy", flag_value=FAIL_CLOSED, default=True,
                 help="When the VM has failed (a trap): answer 503 (default)."),
    click.option("--fail-open", "failure_policy", flag_value=FAIL_OPEN,
                 help="When the VM has failed: let requests through the filter."),
    click.option("--fail-reload", "failure_policy", flag_value=FAIL_RELOAD,
                 help="When the VM has failed: start a new VM for the next requests "
                      "(Envoy's FAIL_RELOAD; per-VM state is lost, shared data kept)."),
)


#: --plugin-config FILE (``plugin_config``), for every command that starts a filter
PLUGIN_CONFIG_OPTION = click.option(
    "--plugin-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The plugin configuration: a .yaml/.yml/.json file's mapping reaches "
         "proxy_on_configure as JSON (as Istio sends pluginConfig), a string as is; any "
         "other file byte for byte.")


def read_plugin_config(path: Path | None) -> bytes | None:
    """The bytes ``--plugin-config FILE`` gives the filter (None: no option); errors name the
    option and the file."""
    if path is None:
        return None
    try:
        return config_file_bytes(path)
    except PluginConfigError as error:
        raise click.BadParameter(str(error), param_hint="--plugin-config") from None


def failure_policy_options(function: F) -> F:
    """Add the --fail-closed/--fail-open/--fail-reload switches (``failure_policy``)."""
    for decorator in reversed(FAILURE_POLICY_OPTIONS):
        function = decorator(function)
    return function


def envoy_options(listen_default: int) -> Callable[[F], F]:
    """Add --plugin-config, --fail-closed/--fail-open/--fail-reload, --workers, --listen,
    --upstream."""
    def decorate(function: F) -> F:
        decorators = [
            PLUGIN_CONFIG_OPTION,
            *FAILURE_POLICY_OPTIONS,
            click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                         help="Envoy worker threads (one VM each)."),
            click.option("--listen", "listen", type=click.IntRange(0, 65535),
                         default=listen_default, show_default=True,
                         help="Listener port on 127.0.0.1 (0: any free port)."),
            click.option("--upstream", metavar="HOST:PORT",
                         help="Where requests go after the filter."),
        ]
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return decorate


def to_envoy_options(module: Path, upstream: str, plugin_config: Path | None,
                     failure_policy: str, workers: int, listen: int,
                     admin_port: int = 0) -> EnvoyOptions:
    """The ``EnvoyOptions`` for the option values; errors name the option (a ``module`` that
    is not a valid Wasm module is refused here, before any configuration is written)."""
    try:
        check_module(module.read_bytes(), str(module))
    except (OSError, NotAModuleError) as error:
        raise click.BadParameter(str(error), param_hint="MODULE.wasm") from None
    host, port = parse_host_port(upstream)
    config = read_plugin_config(plugin_config) or b""
    try:
        return EnvoyOptions(upstream_port=port, upstream_host=host, module=module,
                            plugin_config=config, failure_policy=failure_policy, workers=workers,
                            listener_port=listen, admin_port=admin_port)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
