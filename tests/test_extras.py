"""A missing optional part is one line naming the extra that brings it, never a traceback."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import ROOT
from wukong_core import extras
from wukong_core.extras import MissingExtraError, require


def test_every_extra_of_the_package_is_known_and_nothing_else() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]) == set(extras.MODULES)


def test_requirements_txt_is_the_package_with_all_its_extras() -> None:
    """The deployed function installs requirements.txt; the package declares the same pins."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"])
    for pins in project["optional-dependencies"].values():
        declared |= set(pins)
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert {line for line in lines if line and not line.startswith("#")} == declared


def test_an_installed_extra_passes() -> None:
    require("cluster", "validating against a live cluster")  # this venv has everything


def test_a_missing_module_names_the_extra_and_the_pip_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(extras.MODULES, "cluster", ("kubernetes", "no_such_module_here"))
    with pytest.raises(MissingExtraError) as caught:
        require("cluster", "validating against a live cluster")
    assert str(caught.value) == (
        "validating against a live cluster needs the cluster extra (no_such_module_here is not "
        "installed): pip install 'wukong[cluster]'"
    )


def test_a_missing_parent_package_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(extras.MODULES, "server", ("no_such_parent.child",))
    with pytest.raises(MissingExtraError, match=r"no_such_parent\.child is not installed"):
        require("server", "wukong serve")
