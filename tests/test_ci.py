"""CI for Wukong itself and for its users: the workflows lint clean and publish the image the
hooks pull; the GitHub Action and the GitLab component run their commands as written.

actionlint (which runs shellcheck over `run:` scripts), hadolint and shellcheck come from PyPI
through requirements-dev.txt; where this platform has no wheel of them the lint tests skip.
The image itself is not built here: no container engine runs on these machines.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.ci_runner import (
    ActionRun,
    action,
    action_inputs,
    clean_env,
    component,
    component_script,
    run_action,
)
from tests.conftest import ROOT
from tests.specs import as_yaml, wukong
from wukong_core.render import presync

BIN = Path(sys.executable).parent
WORKFLOWS = ROOT / ".github" / "workflows"
IMAGE = "docker://quay.io/containerdisks/ubuntu:22.04"
BOOTABLE = [{"name": "system", "size": "20Gi", "image": IMAGE}]


def _tool(name: str) -> str:
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if path is None:
        pytest.skip(
            f"{name} is not installed: requirements-dev.txt installs it from PyPI on Linux "
            "x86-64 only, where a wheel with the binary exists"
        )
    return path


def _with_tools() -> dict[str, str]:
    """PATH with the venv's bin first, so actionlint finds shellcheck there."""
    return clean_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


# -- lint ----------------------------------------------------------------------------------


def test_the_workflows_pass_actionlint_and_shellcheck() -> None:
    _tool("shellcheck")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yaml"))
    assert [Path(f).name for f in files] == ["ci.yaml", "release.yaml"]
    done = subprocess.run(
        [_tool("actionlint"), "-no-color", *files],
        cwd=ROOT, env=_with_tools(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [_tool("hadolint"), "--no-color", str(ROOT / "deploy" / "Dockerfile")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _scripts() -> dict[str, str]:
    """Every shell script the Action and the component hold, expressions filled in."""
    run = ActionRun(action_inputs(), Path("/runner-temp"), {"python": {"python-path": "python3"}})
    scripts = {
        f"action.yml: {step['name']}": run.fill(step["run"])
        for step in action()["runs"]["steps"]
        if "run" in step
    }
    script, _ = component_script()
    return scripts | {"templates/validate.yml": script}


@pytest.mark.parametrize("name", sorted(_scripts()))
def test_the_drop_in_scripts_pass_shellcheck(name: str) -> None:
    shell = "sh" if name.startswith("templates/") else "bash"  # GitLab images may lack bash
    done = subprocess.run(
        [_tool("shellcheck"), f"--shell={shell}", "-"],
        input=_scripts()[name], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


# -- the workflows -------------------------------------------------------------------------


def _workflow(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    return {("on" if key is True else key): value for key, value in document.items()}


def test_ci_runs_the_readme_test_command_and_the_action_on_the_examples() -> None:
    jobs = _workflow("ci.yaml")["jobs"]
    assert jobs["test"]["steps"][-1]["run"] == ".ci/run"
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")
    # actionlint checks the inputs of a local action against action.yml
    assert jobs["action"]["steps"][-1]["uses"] == "./"


def test_a_version_tag_publishes_the_image_the_hooks_pull_for_both_architectures() -> None:
    workflow = _workflow("release.yaml")
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    assert workflow["env"]["IMAGE"] == presync.IMAGE_REPOSITORY
    job = workflow["jobs"]["image"]
    assert job["needs"] == "test" and job["permissions"]["packages"] == "write"
    build = next(s for s in job["steps"] if s.get("id") == "build")
    assert build["with"]["file"] == "deploy/Dockerfile" and build["with"]["push"] is True
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["tags"] == "${{ env.IMAGE }}:${{ env.VERSION }}"
    digest = next(s for s in job["steps"] if s.get("name") == "Print the digest")
    assert digest["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    assert "$IMAGE:$VERSION@$DIGEST" in digest["run"]
    # A new ghcr.io package is private: the release fails until anyone can pull the image.
    pull = job["steps"][-1]["run"].splitlines()
    assert pull[0] == "docker logout ghcr.io"
    assert 'if ! docker buildx imagetools inspect "$IMAGE:$VERSION"; then' in pull


@pytest.mark.parametrize(("tag", "passes"), [("v0.1.0", True), ("v0.2.0", False)])
def test_the_release_refuses_a_tag_that_is_not_the_hooks_version(
    tmp_path: Path, tag: str, passes: bool
) -> None:
    """The hooks reference ghcr.io/novasphere/wukong:<presync.VERSION>: a tag naming another
    version would publish an image no rendered hook pulls."""
    step = next(s for s in _workflow("release.yaml")["jobs"]["image"]["steps"] if "run" in s)
    env = clean_env(GITHUB_REF_NAME=tag, GITHUB_ENV=str(tmp_path / "env"))
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (done.returncode == 0) is passes, done.stdout
    if passes:
        assert (tmp_path / "env").read_text() == f"VERSION={presync.VERSION}\n"


# Where the docs and drop-ins name a release: a Git ref (pip, `uses:`, GitLab's `include:
# component`) or a source archive of one.
_RELEASE_REFS = re.compile(
    r"novasphere/wukong@(?P<uses>[^\s'\"]+)"
    r"|/validate@(?P<component>[^\s'\"]+)"
    r"|/archive/refs/tags/(?P<github_archive>[^\s'\"]+?)\.tar\.gz"
    r"|/-/archive/(?P<gitlab_archive>[^/\s'\"]+)/"
)


def test_every_release_the_docs_name_is_a_tag_the_release_workflow_makes() -> None:
    """An include or install at a ref no release makes fails for every user who copies it
    (`validate@0.1.0` against tags named v0.1.0: "component not found")."""
    patterns = _workflow("release.yaml")["on"]["push"]["tags"]
    found: list[tuple[str, str, str]] = []
    for path in ("README.md", "action.yml", "templates/validate.yml", "deploy/README.md"):
        for match in _RELEASE_REFS.finditer((ROOT / path).read_text()):
            found += [(path, kind, ref) for kind, ref in match.groupdict().items() if ref]
    assert {kind for _, kind, _ in found} == set(_RELEASE_REFS.groupindex), found
    for path, kind, ref in found:
        assert any(fnmatch.fnmatchcase(ref, p) for p in patterns), (path, kind, ref, patterns)
        assert ref == f"v{presync.VERSION}", (path, kind, ref)


# -- the GitHub Action ---------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A user's repository: two specs under the default spec path, one of them wrong."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "wukong").mkdir()
    (tmp_path / "wukong" / "web.yaml").write_text(as_yaml(wukong("web", "vms", disks=BOOTABLE)))
    (tmp_path / "wukong" / "db.yaml").write_text(as_yaml(wukong("db", "vms", cpu=0)))
    return tmp_path


def _use_action(
    workspace: Path, runner_temp: Path, **inputs: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the action's Validate step: (its result, the step summary it wrote)."""
    summary = workspace.parent / "summary.md"
    summary.write_text("")
    run = ActionRun(action_inputs(**inputs), runner_temp, {})
    env = clean_env(GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(workspace))
    (done,) = run_action(run, workspace, env, only="Validate")
    return done, summary.read_text()


def test_the_action_annotates_the_spec_lines_and_writes_the_summary(
    workspace: Path, action_install: Path
) -> None:
    done, summary = _use_action(workspace, action_install)
    assert done.returncode == 1
    assert done.stdout.startswith("::error file=wukong/db.yaml,line=7,title=spec.invalid::")
    assert summary.startswith("### Wukong: failed\n\n1 VMs; 1 error(s)")


def test_the_action_checks_the_rendered_output_when_asked(
    workspace: Path, action_install: Path
) -> None:
    (workspace / "wukong" / "db.yaml").unlink()
    done, summary = _use_action(workspace, action_install, **{"check-rendered": "true"})
    assert done.returncode == 1
    assert "::error file=rendered/vms/web.yaml,title=wukong render --check::added" in done.stdout
    assert "**`rendered/` is not what the specs render**" in summary
    wukong_bin = action_install / "wukong" / "bin" / "wukong"
    rendered = subprocess.run(
        [str(wukong_bin), "render", "--offline"], cwd=workspace, env=clean_env(),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    done, summary = _use_action(workspace, action_install, **{"check-rendered": "true"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary.startswith("### Wukong: passed\n\n1 VMs;")


def test_the_action_validates_given_paths_against_a_snapshot(
    workspace: Path, action_install: Path
) -> None:
    snapshot = workspace / "cluster.yaml"
    shutil.copy(ROOT / "examples" / "cluster-snapshot.yaml", snapshot)
    done, _ = _use_action(
        workspace, action_install, paths="wukong/web.yaml", **{"cluster-snapshot": "cluster.yaml"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db.yaml" not in done.stdout


# -- the GitLab component ------------------------------------------------------------------


def test_the_component_is_a_gitlab_component_with_documented_inputs() -> None:
    header, jobs = component()
    assert set(header) == {"spec"}
    assert all(spec.get("description") for spec in header["spec"]["inputs"].values())
    (job,) = jobs.values()
    assert job["stage"] == "$[[ inputs.stage ]]" and job["image"] == "$[[ inputs.image ]]"
    assert job["artifacts"]["reports"] == {
        "codequality": "gl-code-quality-report.json",
        "junit": "wukong-junit.xml",
    }
    assert job["artifacts"]["when"] == "always"  # the reports of a failing job too


def test_the_component_script_writes_both_reports_and_fails_on_errors(
    workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    script, variables = component_script(package=str(ROOT), **{"check-rendered": True})
    # The job image's python3 is this run's Python (3.11 or later, which the image must have).
    env = _with_tools() | {"TMPDIR": str(tmp_path_factory.mktemp("gitlab-tmp")), **variables}
    shell = shutil.which("sh") or "bash"
    done = subprocess.run(
        [shell, "-c", script], cwd=workspace, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-3000:]
    (issue,) = json.loads((workspace / "gl-code-quality-report.json").read_text())
    assert (issue["check_name"], issue["location"]) == (
        "spec.invalid",
        {"path": "wukong/db.yaml", "lines": {"begin": 7}},
    )
    suite = ET.parse(workspace / "wukong-junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    assert re.search(r"wukong/db\.yaml:7: error spec\.invalid", done.stdout)
