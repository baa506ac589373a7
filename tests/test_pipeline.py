"""The one pipeline: what the CLI, the HTTP function and commit-back all get from it."""

from __future__ import annotations

import gc

import pytest

from tests.specs import as_yaml, wukong
from wukong_core.caches import Caches
from wukong_core.cluster.snapshot import SnapshotCluster
from wukong_core.errors import PushIgnored
from wukong_core.git.tree import SourceTree
from wukong_core.pipeline import render_repository, run
from wukong_core.render.manifests import header, stamp_for

BOOT = [{"name": "system", "size": "10Gi", "image": "docker://quay.io/containerdisks/fedora:40"}]


def test_a_clean_run_renders_every_namespace_and_says_it_ran_offline() -> None:
    outcome = run([("a.yaml", as_yaml(wukong("a", "vms", BOOT), wukong("b", "ops", BOOT)))])
    assert outcome.ok and outcome.cluster == "offline"
    assert sorted(outcome.files) == [
        "kustomization.yaml",
        "ops/b.yaml",
        "ops/kustomization.yaml",
        "vms/a.yaml",
        "vms/kustomization.yaml",
    ]


def test_any_error_means_no_files_at_all() -> None:
    good, bad = wukong("a", "vms", BOOT), wukong("b", "vms", [{"name": "system"}])
    outcome = run([("a.yaml", as_yaml(good, bad))])
    assert not outcome.ok
    assert outcome.files == {}
    assert [f.code for f in outcome.findings] == ["disk.size-required"]
    assert [p.name for p in outcome.plans] == ["a"], "the good spec is still planned"


def test_a_spec_that_fails_its_own_checks_is_not_planned_but_others_are_checked() -> None:
    twice = [wukong("a", "vms", BOOT), wukong("a", "vms", BOOT)]
    outcome = run([("x.yaml", as_yaml(twice[0])), ("y.yaml", as_yaml(twice[1]))])
    assert [(f.code, f.file) for f in outcome.findings] == [("spec.duplicate-vm", "y.yaml")]


def test_cluster_checks_run_when_a_cluster_is_given() -> None:
    attach = [{"name": "system", "existingPVC": {"name": "missing"}}]
    view = SnapshotCluster([], source="snapshot test")
    outcome = run([("a.yaml", as_yaml(wukong("a", "vms", attach)))], cluster=view)
    assert outcome.cluster == "snapshot test"
    assert "pvc.not-found" in {f.code for f in outcome.findings}


def repository(config: bytes | None = None, **specs: str) -> SourceTree:
    files = {f"wukong/{name}": text.encode() for name, text in specs.items()}
    files["README.md"] = b"not a spec\n"
    if config is not None:
        files[".wukong.yaml"] = config
    return SourceTree.from_files("0" * 40, files)


def test_a_repository_renders_its_whole_spec_path_with_presync_hooks() -> None:
    tree = repository(
        **{
            "a.yaml": as_yaml(wukong("a", "vms", BOOT)),
            "deep/b.yml": as_yaml(wukong("b", "vms", BOOT)),
        }
    )
    out = render_repository(tree)
    assert (out.output_path, out.vm_count, out.output_branch) == ("rendered/", 2, None)
    assert {"vms/a.yaml", "vms/b.yaml", "vms/wukong-presync-job.yaml"} <= set(out.files)
    assert b"wukong/deep/b.yml" in out.files["vms/b.yaml"], "the source path is the repo path"


def test_repository_settings_come_from_dot_wukong_yaml() -> None:
    config = b"specPath: vms/\noutputPath: deploy/\nnamespace: lab\npresyncHooks: false\n"
    tree = SourceTree.from_files(
        "0" * 40, {".wukong.yaml": config, "vms/a.yaml": as_yaml(wukong("a", None, BOOT)).encode()}
    )
    out = render_repository(tree)
    assert out.output_path == "deploy/"
    assert sorted(out.files) == [
        "kustomization.yaml",
        "lab/.wukong-cache",
        "lab/a.yaml",
        "lab/kustomization.yaml",
    ]


def test_a_broken_dot_wukong_yaml_is_a_finding_that_stops_the_commit() -> None:
    out = render_repository(repository(b"specPath: [x]\n"))
    assert out.files == {}
    [finding] = out.findings
    assert (finding.code, finding.file, finding.line) == ("spec.invalid", ".wukong.yaml", 1)


def test_a_branch_the_repository_does_not_watch_is_not_rendered() -> None:
    tree = repository(**{"a.yaml": as_yaml(wukong("a", "vms", BOOT))})
    with pytest.raises(PushIgnored, match=r"^branch feature/x is not rendered"):
        render_repository(tree, branch="feature/x", default_branch="main")
    assert render_repository(tree, branch="main", default_branch="main").vm_count == 1


def test_a_run_leaves_the_garbage_collector_to_the_process() -> None:
    # A threaded server runs many requests at once: none may switch the collector off for all.
    during: list[bool] = []

    def hooks(namespace: str, plans: list, caches: Caches) -> dict:
        during.append(gc.isenabled())
        return {}

    assert run([("a.yaml", as_yaml(wukong("a", "vms", BOOT)))], extras=hooks).ok
    assert during == [True] and gc.isenabled()


def test_a_repository_renders_the_same_whatever_its_output_folder_holds() -> None:
    specs = {f"wukong/{n}.yaml": as_yaml(wukong(n, "vms", BOOT)).encode() for n in ("a", "b")}
    first = render_repository(SourceTree.from_files("0" * 40, specs))
    output = {f"rendered/{path}": data for path, data in first.files.items()}
    output["rendered/vms/a.yaml"] += b"# a hand edit\n"
    again = render_repository(SourceTree.from_files("1" * 40, specs | output))
    assert again.files == first.files


def test_vm_files_whose_stamps_hold_are_taken_from_the_output_folder() -> None:
    # What spares a fresh instance from writing every unchanged VM again.
    specs = {"wukong/a.yaml": as_yaml(wukong("a", "vms", BOOT)).encode()}
    (plan,) = run(list(specs.items())).plans
    body = b"# written by an earlier run\n"
    kept = header(plan.file, stamp_for(plan, body)).encode() + body
    tree = SourceTree.from_files("0" * 40, specs | {"rendered/vms/a.yaml": kept})
    assert render_repository(tree).files["vms/a.yaml"] == kept
