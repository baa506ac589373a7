"""`wukong render|validate` end to end: exact stdout and exit codes, in the kubeconform style.

Exit status: 0 no errors (warnings and info allowed), 1 error findings, 2 usage or I/O error.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conftest import ROOT
from tests.kube import write_snapshot
from tests.kube_objects import namespace
from tests.kube_storage import storage_class, storage_profile
from tests.specs import as_yaml, plan_one, wukong
from wukong_core.cli.commands import main
from wukong_core.plan import plans_to_json
from wukong_core.render.manifests import render_vm
from wukong_core.render.plan_cache import is_cache_file

OFFLINE_NOTE = "validated offline: no cluster checks ran\n"
EMPTY = (
    "examples/specs/empty-vm.yaml:3: info vm.empty: VM vms/empty-vm has no boot disk with an "
    "operating system; it starts without one (mark a disk boot: true, or name it system, to "
    "boot from it)\n"
)
CLONE = (
    "examples/specs/restored-vm.yaml:16: info clone.cross-namespace: disk 'system' of VM "
    "vms/restored-vm clones PVC backups/web-backup-2026-11-01 into vms/restored-vm-system; "
    "CDI needs 'create' on cdi.kubevirt.io datavolumes/source in 'backups' for the VM's "
    "ServiceAccount ('default' of 'vms' unless set) and whoever applies the VM (Argo CD): a "
    "RoleBinding in 'backups'\n"
)
GOLDEN = (
    "examples/specs/fedora-dev-vm.yaml:35: info clone.cross-namespace: disk 'root' of VM "
    "vms/fedora-dev clones the golden image of DataSource kubevirt-os-images/fedora into "
    "vms/fedora-dev-root; CDI needs 'create' on cdi.kubevirt.io datavolumes/source in "
    "'kubevirt-os-images' for the VM's ServiceAccount ('default' of 'vms' unless set) and "
    "whoever applies the VM (Argo CD): a RoleBinding in 'kubevirt-os-images' (the golden-image "
    "namespaces of KubeVirt's SSP operator and OpenShift Virtualization grant it to every "
    "ServiceAccount)\n"
)
IMAGE = "docker://quay.io/containerdisks/ubuntu:22.04"
BOOTABLE = [{"name": "system", "size": "20Gi", "image": IMAGE}]


@pytest.fixture(autouse=True)
def _no_cluster_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WUKONG_CLUSTER", raising=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with specs/ holding two clean VMs; paths in output are relative."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "web.yaml").write_text(as_yaml(wukong("web", "vms", disks=BOOTABLE)))
    (tmp_path / "specs" / "db.yaml").write_text(as_yaml(wukong("db", "data", disks=BOOTABLE)))
    return tmp_path


def wukong_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WUKONG_CLUSTER"}
    return subprocess.run(
        [sys.executable, "-m", "wukong_core", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- as a subprocess ---------------------------------------------------------------------


def test_validate_the_seed_examples_as_a_command() -> None:
    done = wukong_cli("validate", "examples/specs", "--offline")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        EMPTY + GOLDEN + CLONE + "0 error(s), 0 warning(s), 3 info\n",
        OFFLINE_NOTE,
    )


def test_a_missing_path_is_exit_2_as_a_command() -> None:
    done = wukong_cli("validate", "no/such/dir", "--offline")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "wukong: No such file or directory: no/such/dir\n"


# -- validate ----------------------------------------------------------------------------


def test_clean_specs_exit_0_with_the_summary(repo: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", "specs", "--offline"]) == 0
    assert capsys.readouterr() == ("0 error(s), 0 warning(s), 0 info\n", OFFLINE_NOTE)


def test_no_cluster_flag_means_offline(repo: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", "specs"]) == 0
    assert capsys.readouterr().err == OFFLINE_NOTE


def test_an_error_finding_exits_1_and_names_file_line_and_fix(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    (repo / "specs" / "web.yaml").write_text(
        "apiVersion: vm.novasphere.dev/v1alpha1\nkind: Wukong\nmetadata: {name: web}\n"
        "spec:\n  cpu: 1\n  memroy: 1Gi\n"
    )
    assert main(["validate", "specs", "--offline"]) == 1
    assert capsys.readouterr().out == (
        "specs/web.yaml:4: error spec.invalid: spec.memory: required field is missing; set cpu "
        "and memory, or size the VM by an instancetype (spec.instancetype.name)\n"
        "specs/web.yaml:6: error spec.invalid: spec.memroy: unknown field; "
        'did you mean "memory"?\n'
        "2 error(s), 0 warning(s), 0 info\n"
    )


def test_info_findings_alone_exit_0(repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "specs" / "empty.yaml").write_text(as_yaml(wukong("empty", "vms")))
    assert main(["validate", "specs/empty.yaml", "--offline"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("specs/empty.yaml:1: info vm.empty: VM vms/empty ")
    assert out.endswith("0 error(s), 0 warning(s), 1 info\n")


def test_the_caller_namespace_applies_to_specs_that_set_none(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    (repo / "specs" / "x.yaml").write_text(as_yaml(wukong("x", None)))
    assert main(["validate", "specs/x.yaml", "--offline", "--namespace", "team-a"]) == 0
    assert "VM team-a/x " in capsys.readouterr().out


def test_json_format(repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "specs" / "web.yaml").write_text(
        as_yaml(wukong("web", "vms", disks=[{"name": "system", "image": IMAGE}]))
    )
    assert main(["validate", "specs", "--offline", "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert err == ""  # machine formats keep stderr quiet
    assert json.loads(out) == {
        "findings": [
            {
                "code": "disk.size-required",
                "severity": "error",
                "message": "disk 'system' of VM vms/web is an image disk and needs size "
                "(e.g. 20Gi)",
                "file": "specs/web.yaml",
                "line": 10,
                "object": "vms/web",
            }
        ],
        "summary": {"error": 1, "warning": 0, "info": 0},
    }


def test_github_format(repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "specs" / "web.yaml").write_text(as_yaml(wukong("web", "vms", cpu="2")))
    assert main(["validate", "specs", "--offline", "--format", "github"]) == 1
    assert capsys.readouterr().out == (
        "::error file=specs/web.yaml,line=7,title=spec.invalid::"
        "spec.cpu: Input should be a valid integer (got '2')\n"
    )


def test_junit_format(repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "specs" / "web.yaml").write_text(as_yaml(wukong("web", "vms", cpu=0)))
    assert main(["validate", "specs", "--offline", "--format", "junit"]) == 1
    suite = ET.fromstring(capsys.readouterr().out).find("testsuite")
    assert suite is not None
    # data/db passes as a case of its own; web failed to parse, so its finding is the case
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    assert [case.get("name") for case in suite] == ["data/db", "specs/web.yaml:7 vms/web"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["validate", "--offline"],
            "wukong: no spec folder wukong/ in {repo}: give spec files or directories, or set "
            "specPath in .wukong.yaml\n",
        ),
        (
            ["validate", "--plan", "missing.json", "--offline"],
            "wukong: No such file or directory: missing.json\n",
        ),
        (
            ["render", "missing", "-o", "out", "--offline"],
            "wukong: No such file or directory: missing\n",
        ),
    ],
)
def test_usage_and_io_errors_exit_2_with_one_line(
    repo: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr() == ("", message.format(repo=repo.resolve()))
    assert not (repo / "out").exists()


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["validate", "specs", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["render", "specs", "-o"], "argument -o/--output: expected one argument"),
        (["diff", "--format", "json"], "unrecognized arguments: --format"),
        (["validate", "specs", "--offline", "--in-cluster"], "not allowed with argument"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_a_bad_command_line_exits_2(
    repo: Path, capsys: pytest.CaptureFixture, argv: list[str], complaint: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert complaint in capsys.readouterr().err


# -- validate --plan (the PreSync Job's form) --------------------------------------------


def test_validate_a_plan_file_offline(repo: Path, capsys: pytest.CaptureFixture) -> None:
    plans = [plan_one(wukong("web", "vms", disks=BOOTABLE))]
    (repo / "plan.json").write_text(plans_to_json(plans))
    assert main(["validate", "--plan", "plan.json", "--offline"]) == 0
    assert capsys.readouterr() == ("0 error(s), 0 warning(s), 0 info\n", OFFLINE_NOTE)


def test_a_plan_that_shares_a_written_pvc_fails(repo: Path, capsys: pytest.CaptureFixture) -> None:
    disk = [{"name": "data", "existingPVC": {"name": "shared"}}]
    plans = [plan_one(wukong(name, "vms", disks=disk)) for name in ("one", "two")]
    (repo / "plan.json").write_text(plans_to_json(plans))
    assert main(["validate", "--plan", "plan.json", "--offline", "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["code"], f["object"]) for f in found] == [
        ("pvc.shared-in-repo", "vms/one"),
        ("pvc.shared-in-repo", "vms/two"),
    ]


def test_a_file_that_is_not_a_plan_exits_2(repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "plan.json").write_text('{"not": "a plan"}')
    assert main(["validate", "--plan", "plan.json", "--offline"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("wukong: not a Wukong validation plan: ")


# -- render ------------------------------------------------------------------------------


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_render_writes_one_file_per_vm_and_the_kustomizations(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0
    assert capsys.readouterr() == (
        "0 error(s), 0 warning(s), 0 info\n",
        OFFLINE_NOTE + "rendered 2 VMs into out\n",
    )
    assert tree(repo / "out") == [
        "data/db.yaml",
        "data/kustomization.yaml",
        "data/wukong-presync-job.yaml",
        "data/wukong-presync-plan.yaml",
        "kustomization.yaml",
        "vms/kustomization.yaml",
        "vms/web.yaml",
        "vms/wukong-presync-job.yaml",
        "vms/wukong-presync-plan.yaml",
    ]
    assert (
        (repo / "out" / "vms" / "web.yaml")
        .read_text()
        .startswith("# generated by wukong from specs/web.yaml; do not edit; render ")
    )


def test_render_without_hooks_writes_only_the_vms(repo: Path) -> None:
    assert main(["render", "specs", "-o", "out", "--offline", "--no-hooks"]) == 0
    assert tree(repo / "out") == [
        "data/db.yaml",
        "data/kustomization.yaml",
        "kustomization.yaml",
        "vms/kustomization.yaml",
        "vms/web.yaml",
    ]


def test_render_prunes_its_own_stale_files_and_keeps_the_user_s(repo: Path) -> None:
    assert main(["render", "specs", "-o", "out", "--offline", "--no-hooks"]) == 0
    (repo / "out" / "README.md").write_text("hand written\n")
    (repo / "out" / "vms" / "notes.yaml").write_text("# mine\nkind: ConfigMap\n")
    (repo / "specs" / "db.yaml").unlink()
    (repo / "specs" / "api.yaml").write_text(as_yaml(wukong("api", "vms", disks=BOOTABLE)))
    assert main(["render", "specs", "-o", "out", "--offline", "--no-hooks"]) == 0
    assert tree(repo / "out") == [
        "README.md",
        "kustomization.yaml",
        "vms/api.yaml",
        "vms/kustomization.yaml",
        "vms/notes.yaml",
        "vms/web.yaml",
    ]
    assert (repo / "out" / "README.md").read_text() == "hand written\n"
    assert (repo / "out" / "vms" / "notes.yaml").read_text() == "# mine\nkind: ConfigMap\n"
    assert not (repo / "out" / "data").exists(), "a namespace without VMs leaves no directory"


def test_render_twice_changes_nothing(repo: Path) -> None:
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0
    first = {name: (repo / "out" / name).read_bytes() for name in tree(repo / "out")}
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0
    assert {name: (repo / "out" / name).read_bytes() for name in tree(repo / "out")} == first


def test_render_writes_nothing_when_there_are_errors(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0
    before = {name: (repo / "out" / name).read_bytes() for name in tree(repo / "out")}
    capsys.readouterr()
    (repo / "specs" / "web.yaml").write_text(as_yaml(wukong("web", "vms", disks=BOOTABLE * 2)))
    assert main(["render", "specs", "-o", "out", "--offline"]) == 1
    out, err = capsys.readouterr()
    assert "error disk.duplicate-name" in out
    assert "rendered" not in err
    assert {name: (repo / "out" / name).read_bytes() for name in tree(repo / "out")} == before
    assert main(["render", "specs", "-o", "fresh", "--offline"]) == 1
    assert not (repo / "fresh").exists()


def test_render_puts_a_spec_without_namespace_in_the_caller_s(repo: Path) -> None:
    (repo / "specs" / "x.yaml").write_text(as_yaml(wukong("x", None, disks=BOOTABLE)))
    assert main(["render", "specs", "-o", "out", "--offline", "--namespace", "team-a"]) == 0
    assert (repo / "out" / "team-a" / "x.yaml").is_file()
    assert main(["render", "specs", "-o", "out2", "--offline", "--no-hooks"]) == 0
    assert (repo / "out2" / "default" / "x.yaml").is_file()


def test_a_spec_is_named_by_its_path_in_the_repository_wherever_the_command_runs(
    repo: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / ".git").mkdir()  # a work tree: names are relative to its top
    assert main(["render", "specs", "-o", "here", "--offline", "--no-hooks"]) == 0
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    assert main(["render", str(repo / "specs"), "-o", "out", "--offline", "--no-hooks"]) == 0
    assert (elsewhere / "out" / "vms" / "web.yaml").read_bytes() == (
        repo / "here" / "vms" / "web.yaml"
    ).read_bytes()
    assert b"vm.novasphere.dev/source: specs/web.yaml" in (repo / "here/vms/web.yaml").read_bytes()


# -- a repository's .wukong.yaml ---------------------------------------------------------

CONFIG = """\
specPath: vms/
outputPath: deploy/rendered/
namespace: team
hookImage: registry.example.com/platform/wukong:1.0
hookNamespace: validators
"""
OUT = "deploy/rendered"


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Git work tree with a .wukong.yaml; the commands run in one of its subfolders."""
    root = tmp_path / "clone"
    (root / ".git").mkdir(parents=True)
    (root / ".wukong.yaml").write_text(CONFIG)
    (root / "vms").mkdir()
    (root / "vms" / "web.yaml").write_text(as_yaml(wukong("web", None, disks=BOOTABLE)))
    (root / "vms" / "db.yaml").write_text(as_yaml(wukong("db", "data", disks=BOOTABLE)))
    monkeypatch.chdir(root / "vms")
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_render_with_no_arguments_writes_what_commit_back_would_commit(clone: Path) -> None:
    from wukong_core.git.tree import SourceTree
    from wukong_core.pipeline import render_repository

    committed = render_repository(SourceTree.from_files("0" * 40, files_of(clone)))
    assert main(["render", "--offline"]) == 0
    assert committed.output_path == OUT + "/"
    # All but the plan caches, which only commit-back writes (and the CLI never reads).
    assert files_of(clone / OUT) == {
        path: data for path, data in committed.files.items() if not is_cache_file(path)
    }
    job = (clone / OUT / "team" / "wukong-presync-job.yaml").read_text()
    assert "image: registry.example.com/platform/wukong:1.0" in job
    assert "namespace: validators" in job


def test_render_neither_reads_nor_writes_the_plan_caches_and_keeps_those_of_its_namespaces(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    from wukong_core.git.tree import SourceTree
    from wukong_core.pipeline import render_repository

    # What commit-back committed, its plan caches included; then one forged by hand.
    committed = render_repository(SourceTree.from_files("0" * 40, files_of(clone))).files
    for path, data in committed.items():
        (clone / OUT / path).parent.mkdir(parents=True, exist_ok=True)
        (clone / OUT / path).write_bytes(data)
    forged = committed["team/.wukong-cache"].replace(b'"cpu":1', b'"cpu":9')
    assert forged != committed["team/.wukong-cache"]
    (clone / OUT / "team/.wukong-cache").write_bytes(forged)
    capsys.readouterr()
    assert main(["render", "--check", "--offline"]) == 0, "the caches are no part of the check"
    capsys.readouterr()
    assert main(["diff", "--offline"]) == 0 and capsys.readouterr().out == ""
    (clone / "vms" / "web.yaml").write_text(as_yaml(wukong("web", None, disks=BOOTABLE, cpu=3)))
    assert main(["render", "--offline"]) == 0
    assert b"sockets: 3" in (clone / OUT / "team/web.yaml").read_bytes(), "the spec, not a cache"
    assert (clone / OUT / "team/.wukong-cache").read_bytes() == forged, "kept as it was"
    (clone / "vms" / "db.yaml").unlink()  # the last VM of namespace data
    assert main(["render", "--offline"]) == 0
    assert not (clone / OUT / "data").exists(), "its plan cache went with it"


def test_flags_override_the_repository_config(clone: Path) -> None:
    argv = ["render", "--offline", "--namespace", "other", "--no-hooks", "-o", "elsewhere"]
    assert main(argv) == 0
    assert tree(clone / "vms" / "elsewhere") == [
        "data/db.yaml",
        "data/kustomization.yaml",
        "kustomization.yaml",
        "other/kustomization.yaml",
        "other/web.yaml",
    ]
    assert not (clone / OUT).exists()


def test_validate_with_no_arguments_checks_the_spec_path_by_repository_names(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    (clone / "vms" / "web.yaml").write_text(as_yaml(wukong("web", None, cpu=0)))
    assert main(["validate", "--offline"]) == 1
    assert capsys.readouterr().out == (
        "vms/web.yaml:6: error spec.invalid: spec.cpu: Input should be greater than or equal to "
        "1 (got 0)\n1 error(s), 0 warning(s), 0 info\n"
    )


def test_a_broken_repository_config_is_a_finding_on_it(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    (clone / ".wukong.yaml").write_text("specPath: vms/\nouputPath: out/\n")
    assert main(["render", "--offline", "--format", "github"]) == 1
    assert capsys.readouterr().out == (
        "::error file=.wukong.yaml,line=2,title=spec.invalid::ouputPath: unknown key "
        "'ouputPath'; allowed keys: branches, hookImage, hookNamespace, mode, namespace, "
        "outputBranch, outputPath, presyncHooks, protectDisks, specPath\n"
    )
    assert not (clone / OUT).exists()


def test_no_spec_folder_is_a_usage_error_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["render", "--offline"]) == 2
    assert capsys.readouterr().err == (
        f"wukong: no spec folder wukong/ in {tmp_path.resolve()}: give spec files or "
        "directories, or set specPath in .wukong.yaml\n"
    )


# -- render --check ----------------------------------------------------------------------


def test_check_passes_when_the_output_is_what_the_specs_render(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "--offline"]) == 0
    (clone / OUT / "README.md").write_text("the user's notes are not Wukong's business\n")
    capsys.readouterr()
    assert main(["render", "--check", "--offline"]) == 0
    assert capsys.readouterr().err == f"{OFFLINE_NOTE}{OUT}/ matches the specs\n"


def _render_then_change_the_specs(clone: Path) -> dict[str, bytes]:
    """Render, then change web, remove db and add api; the clone's files after that."""
    assert main(["render", "--offline"]) == 0
    (clone / "vms" / "web.yaml").write_text(as_yaml(wukong("web", None, disks=BOOTABLE, cpu=4)))
    (clone / "vms" / "db.yaml").unlink()
    (clone / "vms" / "api.yaml").write_text(as_yaml(wukong("api", "team", disks=BOOTABLE)))
    return files_of(clone)


def test_check_fails_naming_each_file_and_writes_nothing(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    before = _render_then_change_the_specs(clone)
    capsys.readouterr()
    assert main(["render", "--check", "--offline"]) == 1
    out, err = capsys.readouterr()
    # what the render would do to data is reported, as a render reports it (safety)
    assert out.startswith(f"{OUT}/data/db.yaml:1: warning vm.removed: VM data/db (from vms/db")
    assert out.endswith("\n0 error(s), 1 warning(s), 0 info\n")
    assert err == (
        f"{OFFLINE_NOTE}wukong: {OUT}/ is not what the specs render (run `wukong render` and "
        "commit the result):\n"
        f"  removed  {OUT}/data/db.yaml\n"
        f"  removed  {OUT}/data/kustomization.yaml\n"
        f"  removed  {OUT}/data/wukong-presync-job.yaml\n"
        f"  removed  {OUT}/data/wukong-presync-plan.yaml\n"
        f"  changed  {OUT}/kustomization.yaml\n"
        f"  added    {OUT}/team/api.yaml\n"
        f"  changed  {OUT}/team/kustomization.yaml\n"
        f"  changed  {OUT}/team/web.yaml\n"
        f"  changed  {OUT}/team/wukong-presync-plan.yaml\n"
    )
    assert files_of(clone) == before


def test_check_catches_a_hand_edit_of_a_rendered_file(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "--offline"]) == 0
    web = clone / OUT / "team" / "web.yaml"
    web.write_text(web.read_text().replace("cores: 1", "cores: 8"))
    capsys.readouterr()
    assert main(["render", "--check", "--offline", "--format", "github"]) == 1
    out = capsys.readouterr().out
    assert out.endswith(
        f"::error file={OUT}/team/web.yaml,title=wukong render --check::changed by a render of "
        "the specs: run `wukong render` and commit the result\n"
    )


def test_check_of_specs_with_errors_reports_the_errors_only(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    (clone / "vms" / "web.yaml").write_text(as_yaml(wukong("web", None, cpu=0)))
    assert main(["render", "--check", "--offline"]) == 1
    out, err = capsys.readouterr()
    assert "error spec.invalid" in out
    assert "is not what the specs render" not in err


# -- diff --------------------------------------------------------------------------------


def test_diff_lists_the_vms_then_a_patch_that_git_applies(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    before = _render_then_change_the_specs(clone)
    capsys.readouterr()
    assert main(["diff", "--offline"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith(OFFLINE_NOTE + f"{OUT}/data/db.yaml:1: warning vm.removed: VM data/db")
    assert err.endswith("\n0 error(s), 1 warning(s), 0 info\n")  # on stderr: stdout is the patch
    assert files_of(clone) == before  # diff writes nothing
    head, _, patch = out.partition("--- ")
    assert head == (
        f"{OUT}/: VMs 1 added, 1 changed, 1 removed\n"
        "  added    team/api\n"
        "  changed  team/web\n"
        "  removed  data/db\n"
    )
    assert f"--- a/{OUT}/team/web.yaml\n+++ b/{OUT}/team/web.yaml\n" in out
    assert "-          sockets: 1\n+          sockets: 4\n" in out
    assert f"--- /dev/null\n+++ b/{OUT}/team/api.yaml\n" in out
    assert f"--- a/{OUT}/data/db.yaml\n+++ /dev/null\n" in out
    # The patch is exactly the render: applied, the check passes.
    (clone / "change.patch").write_text("--- " + patch)
    applied = subprocess.run(
        ["git", "apply", "change.patch"], cwd=clone, capture_output=True, text=True
    )
    assert applied.returncode == 0, applied.stderr
    (clone / "change.patch").unlink()
    assert main(["render", "--check", "--offline"]) == 0


def test_diff_of_an_up_to_date_output_prints_no_patch(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "--offline"]) == 0
    capsys.readouterr()
    assert main(["diff", "--offline"]) == 0
    assert capsys.readouterr() == ("", f"{OFFLINE_NOTE}{OUT}/: no changes\n")


def test_diff_of_specs_with_errors_prints_them_on_stderr_and_no_patch(
    clone: Path, capsys: pytest.CaptureFixture
) -> None:
    (clone / "vms" / "web.yaml").write_text(as_yaml(wukong("web", None, cpu=0)))
    assert main(["diff", "--offline"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "vms/web.yaml:6: error spec.invalid: spec.cpu: " in err


# -- report formats end to end -----------------------------------------------------------


def test_junit_of_a_clean_run_has_a_passing_case_per_vm(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["validate", "specs", "--offline", "--format", "junit"]) == 0
    suite = ET.fromstring(capsys.readouterr().out).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")
    assert [(c.get("name"), c.get("file")) for c in suite] == [
        ("data/db", "specs/db.yaml"),
        ("vms/web", "specs/web.yaml"),
    ]


def test_junit_of_a_presync_plan_has_a_case_per_vm(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    plans = [plan_one(wukong(name, "vms", disks=BOOTABLE)) for name in ("a", "b")]
    (repo / "plan.json").write_text(plans_to_json(plans))
    assert main(["validate", "--plan", "plan.json", "--offline", "--format", "junit"]) == 0
    suite = ET.fromstring(capsys.readouterr().out).find("testsuite")
    assert suite is not None and suite.get("tests") == "2"


def test_codequality_format_is_gitlab_s_report(repo: Path, capsys: pytest.CaptureFixture) -> None:
    (repo / "specs" / "web.yaml").write_text(
        as_yaml(wukong("web", "vms", disks=[{"name": "system", "image": IMAGE}]))
    )
    assert main(["validate", "specs", "--offline", "--format", "codequality"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    (issue,) = json.loads(out)
    assert issue == {
        "description": "disk 'system' of VM vms/web is an image disk and needs size (e.g. 20Gi)",
        "check_name": "disk.size-required",
        "fingerprint": issue["fingerprint"],
        "severity": "major",
        "location": {"path": "specs/web.yaml", "lines": {"begin": 10}},
    }
    assert len(issue["fingerprint"]) == 64


def test_github_format_writes_the_step_summary_when_actions_asks(
    repo: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = repo / "summary.md"
    summary.write_text("# earlier steps\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    (repo / "specs" / "web.yaml").write_text(as_yaml(wukong("web", "vms", cpu="2")))
    assert main(["validate", "specs", "--offline", "--format", "github"]) == 1
    assert summary.read_text() == (
        "# earlier steps\n"
        "### Wukong: failed\n\n"
        "1 VMs; 1 error(s), 0 warning(s), 0 info\n\n"
        "| severity | code | where | message |\n"
        "| --- | --- | --- | --- |\n"
        "| error | `spec.invalid` | `specs/web.yaml:7` | spec.cpu: Input should be a valid "
        "integer (got '2') |\n"
    )
    assert capsys.readouterr().out.startswith("::error file=specs/web.yaml,line=7,")
    assert main(["validate", "specs", "--offline", "--format", "text"]) == 1
    assert summary.read_text().count("### Wukong") == 1  # only the github format writes it


def test_render_check_in_github_format_puts_the_stale_files_in_the_summary(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = clone / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["render", "--check", "--offline", "--format", "github"]) == 1
    text = summary.read_text()
    assert text.startswith("### Wukong: passed\n\n2 VMs; 0 error(s)")
    assert f"**`{OUT}/` is not what the specs render**" in text
    assert f"- added `{OUT}/team/web.yaml`\n" in text


# -- render: what it does to data ---------------------------------------------------------


REMOVED_DB = (
    "out/data/db.yaml:1: warning vm.removed: VM data/db (from specs/db.yaml) is no longer "
    "rendered: once its prune is confirmed, Argo CD deletes it and the disks it owns with it "
    "(PersistentVolumeClaim data/db-system); while the prune waits for confirmation, the "
    "Application's sync stays running and holds back its other changes. To keep the disks, "
    "restore its spec, or orphan them before the prune: stop the VM, then delete it yourself "
    "with `kubectl delete vm db -n data --cascade=orphan` (its DataVolumes and PVCs stay, "
    "unowned), or let Argo CD prune with PrunePropagationPolicy=orphan\n"
)


def test_render_compares_with_what_out_holds_and_still_writes(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0
    assert capsys.readouterr().out == "0 error(s), 0 warning(s), 0 info\n"  # a first render
    (repo / "specs" / "db.yaml").unlink()
    bigger = [{**BOOTABLE[0], "size": "40Gi"}]
    (repo / "specs" / "web.yaml").write_text(as_yaml(wukong("web", "vms", disks=bigger)))
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0  # warnings never stop it
    lines = capsys.readouterr().out.splitlines(keepends=True)
    assert lines[0] == REMOVED_DB
    assert lines[1].startswith(
        "specs/web.yaml:11: warning disk.change-ignored: disk 'system' of VM vms/web changes "
        "size 20Gi -> 40Gi, but its DataVolume vms/web-system exists already"
    )
    assert lines[2:] == ["0 error(s), 2 warning(s), 0 info\n"]
    assert not (repo / "out" / "data").exists()
    assert b"storage: 40Gi" in (repo / "out" / "vms" / "web.yaml").read_bytes()
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0  # compared with itself
    assert capsys.readouterr().out == "0 error(s), 0 warning(s), 0 info\n"


@pytest.mark.parametrize(
    ("flag", "options"),
    [
        ([], "sync-options: Prune=confirm,Delete=confirm\n"),
        (["--protect-disks", "confirm"], "sync-options: Prune=confirm,Delete=confirm\n"),
        (["--protect-disks", "never"], "sync-options: Prune=false,Delete=false\n"),
        (["--protect-disks", "off"], None),
    ],
)  # fmt: skip
def test_protect_disks_chooses_what_argo_cd_may_do_to_vms_that_own_disks(
    repo: Path, flag: list[str], options: str | None
) -> None:
    attached = [{"name": "data", "existingPVC": {"name": "shared"}}]
    (repo / "specs" / "db.yaml").write_text(as_yaml(wukong("db", "data", disks=attached)))
    assert main(["render", "specs", "-o", "out", "--offline", "--no-hooks", *flag]) == 0
    web = (repo / "out" / "vms" / "web.yaml").read_text()
    assert (options in web) if options else ("sync-options" not in web)
    assert "sync-options" not in (repo / "out" / "data" / "db.yaml").read_text()


def test_a_render_that_cannot_write_leaves_out_as_it_was(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["render", "specs", "-o", "out", "--offline"]) == 0
    before = {name: (repo / "out" / name).read_bytes() for name in tree(repo / "out")}
    (repo / "specs" / "api.yaml").write_text(as_yaml(wukong("api", "vms", cpu=2, disks=BOOTABLE)))
    (repo / "specs" / "new.yaml").write_text(as_yaml(wukong("new", "zz", disks=BOOTABLE)))
    (repo / "out" / "zz").write_text("a user's file where the namespace directory would go\n")
    capsys.readouterr()
    assert main(["render", "specs", "-o", "out", "--offline"]) == 2
    assert capsys.readouterr().err.endswith(f"wukong: File exists: {repo / 'out' / 'zz'}\n")
    before["zz"] = b"a user's file where the namespace directory would go\n"
    assert {name: (repo / "out" / name).read_bytes() for name in tree(repo / "out")} == before


def test_the_presync_plan_reports_what_the_sync_does_to_live_vms(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    # The PreSync Job's view: `db` owns a disk and runs in the cluster, but the plan has no db.
    db = plan_one(wukong("db", "vms", disks=BOOTABLE))
    live = render_vm(db)
    live["metadata"] |= {"uid": "0b5e-db", "creationTimestamp": "2026-11-20T10:00:00Z"}
    live["metadata"]["annotations"]["vm.novasphere.dev/source"] = "specs/db.yaml"
    cluster = [namespace("vms"), storage_class("standard", default=True), live]
    snapshot = write_snapshot(repo / "cluster.yaml", cluster)
    (repo / "plan.json").write_text(plans_to_json([plan_one(wukong("web", "vms", disks=BOOTABLE))]))
    argv = ["validate", "--plan", "plan.json", "--cluster-snapshot", str(snapshot)]
    assert main([*argv, "--format", "json"]) == 0
    [found] = json.loads(capsys.readouterr().out)["findings"]
    assert (found["code"], found["severity"], found["object"]) == (
        "vm.removed",
        "warning",
        "vms/db",
    )
    assert "PersistentVolumeClaim vms/db-system" in found["message"]


def test_a_snapshot_of_an_earlier_release_says_which_checks_it_skipped(
    repo: Path, capsys: pytest.CaptureFixture
) -> None:
    fast = storage_class("fast", default=True)
    snapshot = write_snapshot(repo / "old.yaml", [namespace("vms"), fast, storage_profile(fast)])
    spec = wukong("dev", "vms", disks=BOOTABLE, networks=[{"name": "lab", "network": "lab"}])
    (repo / "specs" / "web.yaml").write_text(as_yaml(spec))
    assert main(["validate", "specs/web.yaml", "--cluster-snapshot", str(snapshot)]) == 0
    assert capsys.readouterr().err.startswith(
        f"validated against snapshot {snapshot} (holds no NetworkAttachmentDefinitions: the "
        "checks that need them were skipped; record them with `kubectl get "
    )


def test_a_command_hands_the_garbage_collector_back_even_when_it_fails(tmp_path: Path) -> None:
    # The CLI pauses the cyclic collector for a command (tests/test_collector.py).
    assert main(["validate", str(tmp_path / "missing")]) == 2 and gc.isenabled()
