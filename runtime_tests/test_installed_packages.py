"""A pure-Python package installed in the build's environment (not beside the filter) runs
inside the compiled module, and from source, with the same verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from meshwasm.builder.pipeline import build_filter
from meshwasm.harness import replay_module
from meshwasm.harness.source import replay_source
from meshwasm.replay.traffic import parse_traffic

FILTER = '''
from proxy_wasm import Action, HttpContext, register

from shoutcase import shout


class Shout(HttpContext):
    path = ""

    def on_request_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.path = self.request_headers.get(":path", "")
        return Action.CONTINUE

    def on_response_headers(self, num_headers: int, end_of_stream: bool) -> Action:
        self.response_headers.set("x-shout", shout(self.path))
        return Action.CONTINUE


register(Shout)
'''
PACKAGE = {  # an installed distribution: a package with a submodule and a stdlib import
    "shoutcase/__init__.py": "from shoutcase.core import shout\n",
    "shoutcase/core.py": "import string\n\n\ndef shout(text: str) -> str:\n"
                         "    return string.capwords(text.strip('/').replace('-', ' ')) + '!'\n",
}
TRAFFIC = """
requests:
  - name: the installed package answers
    request: {path: /hello-there}
    expect:
      headers: {x-shout: Hello There!}
"""


@pytest.mark.slow
def test_an_installed_pure_python_package_runs_in_the_module(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    for name, text in PACKAGE.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    monkeypatch.syspath_prepend(str(site))  # as if pip had installed it here
    folder = tmp_path / "filter"
    folder.mkdir()
    (folder / "shout.py").write_text(FILTER)
    result = build_filter(folder / "shout.py", folder / "shout.wasm")
    installed = sorted(name for name, module in result.closure.sources.items()
                       if module.origin == "installed")
    assert installed == ["shoutcase", "shoutcase.core"]
    traffic = parse_traffic(TRAFFIC)
    for verdicts in (replay_module(result.output, traffic),
                     replay_source(folder / "shout.py", traffic)):
        assert verdicts[0].status == 200
        assert dict(verdicts[0].headers)["x-shout"] == "Hello There!"
    sys.modules.pop("shoutcase", None)
    sys.modules.pop("shoutcase.core", None)
