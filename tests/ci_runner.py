"""Run the drop-in CI steps as their hosts would: action.yml's `run:` steps and the GitLab
component's `script:`, with the hosts' expressions filled in.

GitHub fills `${{ ... }}` (inputs, step outputs, `github.action_path`, `a || b`) before bash
runs a step (`bash --noprofile --norc -eo pipefail`); GitLab fills `$[[ inputs.x ]]` when it
includes a component, and runs the job's script lines in one shell with its `variables:` set.
No runner is involved: the commands are the ones the files hold, run on this machine.

The conftest fixture `action_install` runs the action's install step once per session: a fresh
virtual environment with the light package built from this checkout, as a user's workflow gets
it (tests/test_packaging.py checks what that install can and cannot do).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

ACTION = ROOT / "action.yml"
COMPONENT = ROOT / "templates" / "validate.yml"
_GITHUB_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_GITLAB_INPUT = re.compile(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]")


def action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text())


def component() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the `spec:` header, the jobs) of the component file."""
    header, jobs = yaml.safe_load_all(COMPONENT.read_text())
    return header, jobs


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without the variables Wukong reads itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WUKONG_", "GITHUB_"))}
    return env | extra


@dataclass
class ActionRun:
    """One use of the action: its inputs, and what its steps see."""

    inputs: dict[str, str]
    runner_temp: Path
    outputs: dict[str, dict[str, str]]

    def evaluate(self, expression: str) -> str:
        """The few expression forms action.yml uses: names, and `a || b`."""
        for operand in expression.split("||"):
            value = self._lookup(operand.strip())
            if value:
                return value
        return ""

    def _lookup(self, name: str) -> str:
        head, _, rest = name.partition(".")
        if head == "inputs":
            return self.inputs[rest]
        if head == "github" and rest == "action_path":
            return str(ROOT)
        if head == "steps":
            step, _, output = rest.partition(".outputs.")
            return self.outputs[step][output]
        raise AssertionError(f"action.yml uses an expression this runner does not know: {name}")

    def fill(self, text: str) -> str:
        return _GITHUB_EXPRESSION.sub(lambda m: self.evaluate(m[1]), text)


def action_inputs(**given: str) -> dict[str, str]:
    declared = action()["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    return {name: given.get(name, spec.get("default", "")) for name, spec in declared.items()}


def run_action(
    run: ActionRun, workspace: Path, env: Mapping[str, str], only: str | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Run the `run:` steps (or the one named `only`) until one fails; their results."""
    results = []
    for step in action()["runs"]["steps"]:
        if "uses" in step:
            assert step["uses"].startswith("actions/setup-python@"), step["uses"]
            run.outputs[step["id"]] = {"python-path": sys.executable}
            continue
        if only is not None and step["name"] != only:
            continue
        assert step["shell"] == "bash"
        step_env = dict(env) | {k: run.fill(str(v)) for k, v in step.get("env", {}).items()}
        step_env |= {"RUNNER_TEMP": str(run.runner_temp), "GITHUB_ACTION_PATH": str(ROOT)}
        cwd = workspace / run.fill(step.get("working-directory", "."))
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", run.fill(step["run"])],
            cwd=cwd,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        results.append(done)
        if done.returncode != 0:
            break
    return results


def component_script(**given: str) -> tuple[str, dict[str, str]]:
    """The job's script as one shell program, and its variables, for the given inputs."""
    header, jobs = component()
    declared = header["spec"]["inputs"]
    unknown = set(given) - set(declared)
    assert not unknown, f"not inputs of the component: {unknown}"
    values = {}
    for name, spec in declared.items():
        value = given.get(name, spec.get("default", ""))
        values[name] = str(value).lower() if spec.get("type") == "boolean" else str(value)

    def fill(text: str) -> str:
        return _GITLAB_INPUT.sub(lambda m: values[m[1]], text)

    (job,) = jobs.values()
    variables = {name: fill(str(value)) for name, value in job["variables"].items()}
    return "\n".join(fill(line) for line in job["script"]), variables


def install_with_the_action(runner_temp: Path) -> Path:
    """Run the action's install step into `runner_temp`; the fresh virtual environment."""
    run = ActionRun(action_inputs(), runner_temp, {})
    (done,) = run_action(run, ROOT, clean_env(), only="Install Wukong")
    assert done.returncode == 0, done.stderr[-3000:]
    return runner_temp / "wukong"
