"""``meshwasm wasmplugin NAME --url oci://…``: write an Istio WasmPlugin, validated offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from meshwasm.deploy.istio.wasmplugin import (PluginSpec, WasmPluginError, build_manifest,
                                        check_manifest, parse_target_ref, sha256_for, to_yaml,
                                        validate_manifest, validate_plugin_config)
from meshwasm.plugin_config import PluginConfigError, config_bytes, read_config_data

PHASES = ("UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS")
FAIL_STRATEGIES = ("FAIL_CLOSE", "FAIL_OPEN", "FAIL_RELOAD")
PULL_POLICIES = ("IfNotPresent", "Always")
MODES = ("CLIENT", "SERVER", "CLIENT_AND_SERVER")


def _load_data(path: Path) -> Any:
    """A YAML or JSON file (JSON is YAML); errors name the file."""
    return _load_documents(path, yaml.safe_load)


def _load_documents(path: Path, loader: Callable[[str], Any]) -> Any:
    """``loader`` applied to the file's text; unreadable, invalid or too deeply nested
    data is a click error naming the file."""
    try:
        return loader(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise click.ClickException(f"{path}: {error}") from None
    except RecursionError:
        raise click.ClickException(f"{path}: nested too deeply to read") from None


def _plugin_config(path: Path) -> dict[str, Any]:
    """``spec.pluginConfig`` from a YAML/JSON file: Istio's field holds a mapping, which the
    filter receives as JSON (``meshwasm.plugin_config``, as ``run`` and ``replay`` send it)."""
    try:
        value = read_config_data(path)
        config_bytes(value)  # what the filter will read must be JSON
    except PluginConfigError as error:
        raise click.ClickException(str(error)) from None
    if not isinstance(value, dict):
        raise click.ClickException(
            f"{path}: spec.pluginConfig must be a mapping (Istio's field is a protobuf "
            f"Struct), not {type(value).__name__}")
    return value


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", param_hint=option)
        pairs[key] = rest
    return pairs


def _check_only(path: Path) -> None:
    documents = [d for d in _load_documents(path, lambda text: list(yaml.safe_load_all(text)))
                 if d]
    for index, document in enumerate(documents):
        where = f"{path}" + (f" (document {index + 1})" if len(documents) > 1 else "")
        try:
            check_manifest(document, where)
        except WasmPluginError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"{path}: valid ({len(documents)} WasmPlugin"
               f"{'s' if len(documents) != 1 else ''})", err=True)


@click.command("wasmplugin")
@click.argument("name", required=False)
@click.option("--url", help="oci://REGISTRY/REPO@sha256:… (from `meshwasm push`), or http(s)://, "
                            "file://.")
@click.option("-n", "--namespace", help="metadata.namespace.")
@click.option("--sha256", "sha256", help="Checksum; derived from a pinned oci:// url by default.")
@click.option("--module", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="For http(s)/file urls: the module, to compute sha256.")
@click.option("--image-pull-policy", type=click.Choice(PULL_POLICIES))
@click.option("--image-pull-secret", help="Secret with registry credentials.")
@click.option("--phase", type=click.Choice(PHASES), help="Where in the filter chain.")
@click.option("--priority", type=int, help="Order within the phase (higher first).")
@click.option("--fail-strategy", type=click.Choice(FAIL_STRATEGIES))
@click.option("--plugin-name", help="Root id passed to the VM (spec.pluginName).")
@click.option("--selector", "selector", multiple=True, metavar="KEY=VALUE",
              help="Workload label to match (repeatable); excludes --target-ref.")
@click.option("--target-ref", "target_refs", multiple=True, metavar="[GROUP/]KIND/NAME",
              help="Gateway/NAME, Service/NAME or group/Kind/name (repeatable).")
@click.option("--match-mode", type=click.Choice(MODES), help="Traffic direction to match.")
@click.option("--match-port", "match_ports", multiple=True, type=int,
              help="Destination port to match (repeatable).")
@click.option("--plugin-config", "plugin_config", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="YAML/JSON file: spec.pluginConfig.")
@click.option("--config-schema", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON Schema the plugin configuration must satisfy.")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE",
              help="vmConfig.env entry with an inline value (repeatable).")
@click.option("--env-from-host", "env_host", multiple=True, metavar="NAME",
              help="vmConfig.env entry taken from the proxy's environment (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the manifest here instead of stdout.")
@click.option("--check", "check", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Only validate an existing WasmPlugin YAML file.")
def command(name: str | None, url: str | None, namespace: str | None, sha256: str | None,
            module: Path | None, image_pull_policy: str | None, image_pull_secret: str | None,
            phase: str | None, priority: int | None, fail_strategy: str | None,
            plugin_name: str | None, selector: tuple[str, ...], target_refs: tuple[str, ...],
            match_mode: str | None, match_ports: tuple[int, ...], plugin_config: Path | None,
            config_schema: Path | None, env: tuple[str, ...], env_host: tuple[str, ...],
            output: Path | None, check: Path | None) -> None:
    """Write the Istio WasmPlugin NAME for a pushed module, validated against Istio's CRD
    (schema and CEL rules) as the Kubernetes API server would, so `kubectl apply` accepts it.

    With --check FILE, validate an existing manifest instead.
    """
    if check is not None:
        _check_only(check)
        return
    if not name or not url:
        raise click.UsageError("NAME and --url are required (or use --check FILE)")
    try:
        spec = PluginSpec(
            name=name, url=url, namespace=namespace,
            sha256=sha256_for(url, sha256, module),
            image_pull_policy=image_pull_policy, image_pull_secret=image_pull_secret,
            phase=phase, priority=priority, fail_strategy=fail_strategy,
            plugin_name=plugin_name, selector=_pairs(selector, "--selector"),
            target_refs=[parse_target_ref(ref) for ref in target_refs],
            env=[{"name": k, "value": v} for k, v in _pairs(env, "--env").items()]
            + [{"name": k, "valueFrom": "HOST"} for k in env_host],
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    if match_mode or match_ports:
        rule: dict[str, Any] = {}
        if match_mode:
            rule["mode"] = match_mode
        if match_ports:
            rule["ports"] = [{"number": port} for port in match_ports]
        spec.match = [rule]
    errors: list[str] = []
    if plugin_config is not None:
        spec.plugin_config = _plugin_config(plugin_config)
        if config_schema is not None:
            schema = _load_data(config_schema)
            try:
                errors += validate_plugin_config(spec.plugin_config, schema, str(config_schema))
            except Exception as error:  # jsonschema.SchemaError and friends
                raise click.ClickException(f"{config_schema}: not a JSON Schema: {error}") from None
    elif config_schema is not None:
        raise click.UsageError("--config-schema needs --plugin-config")
    manifest = build_manifest(spec)
    errors = [*errors, *validate_manifest(manifest)]
    if errors:
        raise click.ClickException(str(WasmPluginError(f"WasmPlugin {name!r}", errors)))
    text = to_yaml(manifest)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)

