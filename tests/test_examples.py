"""The examples are documentation that must stay true: each findings example shows its code,
and examples/rendered is exactly what `wukong render` makes of examples/specs today."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from wukong_core.cli.commands import main
from wukong_core.findings import CODES, Severity

FINDINGS = EXAMPLES / "findings"
OFFLINE_CODES = [
    "spec.invalid",
    "spec.duplicate-vm",
    "disk.duplicate-name",
    "disk.conflicting-source",
    "disk.size-required",
    "disk.size-not-allowed",
    "disk.unsupported-image",
    "disk.readonly-bus",
    "disk.cdrom-invalid",
    "boot.multiple",
    "boot.missing",
    "vm.empty",
    "name.too-long",
    "name.collision",
    "pvc.shared-in-repo",
    "clone.cross-namespace",
    "cloudinit.too-large",
    "instancetype.conflict",
    "cpu.sockets-unused",
]
REFRESH = ".venv/bin/python -m wukong_core render examples/specs -o examples/rendered --offline"


@pytest.fixture(autouse=True)
def _offline_from_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WUKONG_CLUSTER", raising=False)
    monkeypatch.chdir(ROOT)  # paths in findings and in the source annotation are repo-relative


def test_there_is_one_findings_example_per_offline_code_and_nothing_else() -> None:
    assert sorted(p.name for p in FINDINGS.iterdir()) == sorted(f"{c}.yaml" for c in OFFLINE_CODES)


@pytest.mark.parametrize("code", OFFLINE_CODES)
def test_each_findings_example_shows_exactly_its_code(
    code: str, capsys: pytest.CaptureFixture
) -> None:
    path = FINDINGS / f"{code}.yaml"
    first = path.read_text().splitlines()[0]
    assert first.startswith(f"# {code} ({CODES[code].value}): "), "say what it shows on top"
    status = main(["validate", str(path.relative_to(ROOT)), "--offline", "--format", "json"])
    found = json.loads(capsys.readouterr().out)["findings"]
    assert {f["code"] for f in found} == {code}
    assert status == (1 if CODES[code] is Severity.ERROR else 0)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_rendered_examples_are_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "examples/specs", "-o", str(tmp_path), "--offline"]) == 0
    capsys.readouterr()
    fresh, committed = _files(tmp_path), _files(EXAMPLES / "rendered")
    stale = sorted(n for n in fresh.keys() | committed.keys() if fresh.get(n) != committed.get(n))
    assert stale == [], f"examples/rendered is stale ({', '.join(stale)}); refresh it: {REFRESH}"


def test_make_demo_renders_commits_and_marks_the_pushed_commit() -> None:
    """`make demo`, the README's first command, end to end: it broke once unnoticed."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(EXAMPLES / "demo.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "== 1. signed GitHub push -> POST /webhook" in done.stdout
    assert '"state": "success"' in done.stdout and "redelivery=True" in done.stdout
    assert "secrets in the function's log: none" in done.stdout
