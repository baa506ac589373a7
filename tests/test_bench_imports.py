"""An offline render through the CLI imports neither `kubernetes` nor `dulwich` (bench P1/P2).

tests/test_main.py checks the HTTP function's cold start (/healthz, /render, /validate); this
covers the other offline entry point, `wukong render --offline`, in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT

_PROBE = """
import json, sys
from wukong_core.cli import commands as cli
code = cli.main(["render", sys.argv[1], "-o", sys.argv[2], "--offline"])
heavy = ("kubernetes", "dulwich")
print(json.dumps({"code": code, "loaded": sorted(
    {m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy})}))
"""


def test_offline_cli_render_imports_no_kubernetes_or_dulwich(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(EXAMPLES / "specs"), str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": []}
    assert (tmp_path / "out" / "kustomization.yaml").is_file()
