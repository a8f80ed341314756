"""An Envoy whose wasm filter can be swapped while it serves: for ``meshwasm dev --envoy``.

The listener is not in the bootstrap but in a file Envoy watches (LDS from
``path_config_source``).  Envoy reloads that file when a new one is *moved* onto its path
(an edit in place is ignored), so ``reload`` writes the new listener to a temporary file
beside it and renames it over ``lds.json``.  A listener whose address is unchanged and whose
filter chain changed is updated in place: new connections get the new filter chain (and a new
wasm VM) once it is ready, connections already accepted finish on the old one, which Envoy then
drains — no request in flight is dropped.

Each module version is copied to ``modules/<sha256>.wasm`` so the listener config changes
whenever the module does, and the file an old filter chain points at is never overwritten.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from meshwasm.builder.pipeline import write_atomically
from meshwasm.deploy.envoy.config import LOOPBACK, EnvoyOptions, bootstrap, free_port
from meshwasm.deploy.envoy.process import EnvoyError, EnvoyProcess, start_envoy

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
_LDS_SUCCESS = "listener_manager.lds.update_success"
_LDS_REJECTED = "listener_manager.lds.update_rejected"
_WARMING = "listener_manager.total_listeners_warming"


def split_bootstrap(options: EnvoyOptions, lds_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(bootstrap reading listeners from ``lds_path``, the listener resource) for ``options``."""
    config = bootstrap(options)
    listener = config["static_resources"].pop("listeners")[0]
    config["dynamic_resources"] = {"lds_config": {
        "resource_api_version": "V3",
        "path_config_source": {"path": str(lds_path)},
    }}
    return config, listener


@dataclass
class DevEnvoy:
    """A running reloadable Envoy; use only inside ``start_dev_envoy``'s block."""

    envoy: EnvoyProcess
    options: EnvoyOptions
    workdir: Path
    version: int = 0

    @property
    def lds_path(self) -> Path:
        return self.workdir / "lds.json"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.options.listener_port}/"

    def _stage_module(self, module: Path) -> Path:
        data = Path(module).read_bytes()
        staged = self.workdir / "modules" / f"{hashlib.sha256(data).hexdigest()}.wasm"
        if not staged.exists():
            write_atomically(staged, data)
        return staged

    def write_listener(self, module: Path) -> None:
        """Point the listener at ``module``: atomic rename onto the watched LDS file."""
        self.version += 1
        options = replace(self.options, module=self._stage_module(module))
        _, listener = split_bootstrap(options, self.lds_path)
        document = {"version_info": str(self.version),
                    "resources": [{"@type": LISTENER_TYPE, **copy.deepcopy(listener)}]}
        temporary = self.workdir / f".lds.{self.version}.json"
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.lds_path)

    def reload(self, module: Path, timeout: float = 20.0) -> float:
        """Serve ``module`` from now on; returns the seconds until Envoy used it.

        Waits until Envoy accepted the update and the new filter chain is warm.  Raises
        ``EnvoyError`` (with Envoy's log tail) when Envoy rejects it, e.g. a module V8 refuses;
        the previous module then keeps serving.
        """
        started = time.monotonic()
        accepted, rejected = self.envoy.gauge(_LDS_SUCCESS), self.envoy.gauge(_LDS_REJECTED)
        self.write_listener(module)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.envoy.process.poll() is not None:
                raise EnvoyError(f"Envoy exited during reload:\n{self.envoy.log_tail()}")
            try:
                if self.envoy.gauge(_LDS_REJECTED) > rejected:
                    raise EnvoyError(f"Envoy rejected the new module (still serving the "
                                     f"previous one):\n{self.envoy.log_tail(15)}")
                if self.envoy.gauge(_LDS_SUCCESS) > accepted and self.envoy.gauge(_WARMING) == 0:
                    return time.monotonic() - started
            except OSError:
                # The admin endpoint shares Envoy's main thread with the listener update,
                # which compiles the new module (seconds on a loaded machine): not yet.
                pass
            time.sleep(0.01)
        raise EnvoyError(f"Envoy did not apply the new module within {timeout:g}s:\n"
                         f"{self.envoy.log_tail(15)}")


@contextmanager
def start_dev_envoy(module: Path, options: EnvoyOptions, *, workdir: Path,
                    ready_timeout: float = 30.0,
                    wasm_log_level: str = "info") -> Iterator[DevEnvoy]:
    """Envoy serving ``module`` with a reloadable listener, until the block ends.

    ``options.listener_port`` 0 picks a free port now (the listener keeps it across reloads).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if options.listener_port == 0:
        options = replace(options, listener_port=free_port())
    lds_path = workdir / "lds.json"
    dev = DevEnvoy(envoy=None, options=options, workdir=workdir)  # type: ignore[arg-type]
    dev.write_listener(module)
    config, _ = split_bootstrap(replace(options, module=Path(module).resolve()), lds_path)
    with start_envoy(replace(options, module=Path(module).resolve()), workdir=workdir / "envoy",
                     ready_timeout=ready_timeout, wasm_log_level=wasm_log_level,
                     config=config) as envoy:
        dev.envoy = envoy
        try:
            yield dev
        finally:
            shutil.rmtree(workdir / "modules", ignore_errors=True)
