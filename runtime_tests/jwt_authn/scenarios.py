"""Render a jwt_authn scenario file (tokens + traffic with ``${NAME}`` placeholders) into a
plain traffic file the harness and Envoy replay."""

from __future__ import annotations

import json
import string
import time
from pathlib import Path
from typing import Any

import yaml

from meshwasm.harness.shared import EPOCH_NS
from meshwasm.replay.model import Traffic
from meshwasm.replay.traffic import load_traffic

from .tokens import KeySet, make_token

HERE = Path(__file__).resolve().parent


#: The harness's virtual clock starts here; tokens for harness replays are made relative to it.
HARNESS_NOW = EPOCH_NS // 10**9


def render(keys: KeySet, scenario: Path, out_dir: Path, now: int | None = None,
           extra: dict[str, str] | None = None) -> tuple[Traffic, dict[str, str]]:
    """The scenario's traffic with tokens made relative to ``now`` (seconds since the epoch;
    the wall clock by default, ``HARNESS_NOW`` for harness replays), and the tokens by name."""
    text = scenario.read_text()
    document: dict[str, Any] = yaml.safe_load(text)
    now = int(time.time()) if now is None else now
    fill = {"PAD": "x" * 2048}  # placeholders a token spec may use
    specs = yaml.safe_load(string.Template(yaml.safe_dump(document["tokens"])).safe_substitute(fill))
    tokens = {name: make_token(keys, spec, now) for name, spec in specs.items()}
    values = {"JWKS": json.dumps(keys.jwks(), separators=(",", ":")), **tokens,
              **(extra or {})}
    tokens = {name: string.Template(token).safe_substitute(values)
              for name, token in tokens.items()}
    rendered = yaml.safe_load(string.Template(text).substitute({**fill, **values}))
    rendered.pop("tokens")
    out = out_dir / scenario.name
    out.write_text(yaml.safe_dump(rendered, sort_keys=False, width=1 << 20))
    return load_traffic(out), tokens
