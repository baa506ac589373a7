"""The light install: `pip install wukong` brings pydantic and PyYAML only, and validates offline
and against a recorded cluster; what needs an extra says which, in one line.

The environment is the one the GitHub Action's install step makes (conftest `action_install`):
a fresh virtual environment, the package built from this checkout with pip's own isolated
build, its dependencies from the package index.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

LIGHT = {"annotated-types", "pydantic", "pydantic-core", "pyyaml", "typing-extensions",
         "typing-inspection", "wukong"}  # fmt: skip
HEAVY = {"kubernetes", "dulwich", "functions-framework", "google-cloud-logging", "werkzeug",
         "flask", "urllib3"}  # fmt: skip
CLUSTER = (
    "wukong: validating against a live cluster needs the cluster extra (kubernetes is not "
    "installed): pip install 'wukong[cluster]'\n"
)


@pytest.fixture(scope="module")
def bare(action_install: Path) -> Path:
    return action_install / "wukong" / "bin"


def _wukong(bare: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bare / "wukong"), *args],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_the_light_install_holds_the_core_dependencies_only(bare: Path) -> None:
    listed = subprocess.run(
        [str(bare / "python"), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.split()}
    installed -= {"pip", "setuptools"}  # the venv's own
    assert installed == LIGHT
    assert not installed & HEAVY


def test_the_light_install_validates_offline(bare: Path) -> None:
    done = _wukong(bare, "validate", "examples/specs", "--offline")
    assert (done.returncode, done.stderr) == (0, "validated offline: no cluster checks ran\n")
    assert done.stdout.endswith("0 error(s), 0 warning(s), 3 info\n")


def test_the_light_install_validates_against_a_snapshot_as_the_full_one_does(bare: Path) -> None:
    args = ("validate", str(EXAMPLES / "specs"), "--cluster-snapshot",
            str(EXAMPLES / "cluster-snapshot.yaml"), "--format", "json")  # fmt: skip
    light = _wukong(bare, *args)
    full = subprocess.run(
        [sys.executable, "-m", "wukong_core", *args],  # the full install that runs the tests
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert light.returncode == full.returncode and light.stdout == full.stdout, light.stderr
    assert '"code": "pvc.not-found"' not in light.stdout  # the snapshot was really read


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["validate", "examples/specs", "--kubeconfig", "kubeconfig"], {}, CLUSTER),
        (["validate", "examples/specs", "--in-cluster"], {}, CLUSTER),
        (["validate", "examples/specs"], {"WUKONG_CLUSTER": "in-cluster"}, CLUSTER),
        (
            ["serve"],
            {},
            "wukong: wukong serve needs the server extra (werkzeug, functions_framework, "
            "google.cloud.logging_v2, dulwich are not installed): pip install 'wukong[server]'\n",
        ),
    ],
    ids=["kubeconfig", "in-cluster", "WUKONG_CLUSTER", "serve"],
)
def test_a_missing_extra_is_one_line_naming_it(
    bare: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    done = _wukong(bare, *args, **env)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message)


def test_the_package_declares_its_license() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "Copyright 2026 The Wukong Authors." in text  # the appendix, filled in
