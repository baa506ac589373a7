"""Opening a cluster view from a WUKONG_CLUSTER value or the CLI's flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.kube import TOKEN
from wukong_core.cluster import open_cluster
from wukong_core.errors import UsageError

pytest_plugins = ["tests.kube"]


# --- opening ------------------------------------------------------------------------------------


def test_importing_the_module_does_not_import_kubernetes() -> None:
    heavy = "{'kubernetes', 'urllib3'}"
    code = f"import sys, wukong_core.cluster; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_offline_is_no_view() -> None:
    assert open_cluster("offline") is None


@pytest.mark.parametrize(
    "source", ["nonsense", "snapshot:", "kubeconfig:/no/such/file", "snapshot:/no/such/file"]
)
def test_bad_sources_are_usage_errors(source: str) -> None:
    with pytest.raises(UsageError, match=r"unknown cluster source|(N|n)o such file"):
        open_cluster(source)


def test_in_cluster_outside_a_cluster_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(UsageError, match="in-cluster"):
        open_cluster("in-cluster")


def test_a_context_needs_a_kubeconfig() -> None:
    with pytest.raises(UsageError, match="needs a kubeconfig"):
        open_cluster("in-cluster", "prod")


def test_unknown_context_is_a_usage_error(kubeconfig: Path) -> None:
    with pytest.raises(UsageError, match="kubeconfig") as e:
        open_cluster(f"kubeconfig:{kubeconfig}", "no-such-context")
    assert TOKEN not in str(e.value)
