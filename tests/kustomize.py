"""`kubectl kustomize`, the build Argo CD and `kubectl apply -k` run, for tests of what Wukong
writes and ships; a test skips, saying so, where kubectl is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize folder` builds."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: kustomize builds are not checked")
    result = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]
