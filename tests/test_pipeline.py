"""The one pipeline: what the CLI, the HTTP function and commit-back all get from it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.kustomize import kustomize
from tests.specs import as_yaml, wukong
from wukong_core.caches import Caches
from wukong_core.cluster.snapshot import SnapshotCluster
from wukong_core.errors import PushIgnored
from wukong_core.folder import Folder, blob_id
from wukong_core.git.tree import SourceTree
from wukong_core.pipeline import render_repository, run
from wukong_core.render import plan_cache
from wukong_core.render.changes import changes
from wukong_core.render.manifests import header, stamp_for
from wukong_core.render.plan_cache import CACHE_FILE, is_cache_file
from wukong_core.render.presync import presync_hooks

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


# --- a fresh instance and the plan cache ----------------------------------------------------------


class Clone:
    """Files as a partial clone has them: ids at once, no bytes at hand, every read recorded."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.reads: list[str] = []

    def folder(self, files: dict[str, bytes]) -> Folder:
        self.data |= {blob_id(data): data for data in files.values()}
        return Folder({path: blob_id(data) for path, data in files.items()}, self)

    def peek(self, blob: str) -> bytes | None:
        return None

    def read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        self.reads += blobs
        return {blob: self.data[blob] for blob in blobs}


def commit_back(
    specs: dict[str, bytes], output: dict[str, bytes], caches: Caches, namespace: str = "vms"
) -> tuple[dict[str, bytes], set[str]]:
    """What commit-back makes the output folder hold, and which files it read (by path)."""
    clone = Clone()
    outcome = run(
        clone.folder(specs),
        previous=clone.folder(output),
        default_namespace=namespace,
        extras=presync_hooks(),
        plan_cache=True,
        caches=caches,
    )
    assert outcome.ok, outcome.findings
    by_id = {blob_id(d): p for p, d in specs.items()} | {blob_id(d): p for p, d in output.items()}
    files = outcome.files | {path: output[path] for path in outcome.kept}
    return files, {by_id[blob] for blob in clone.reads}


def generated(count: int) -> dict[str, bytes]:
    files = {
        f"wukong/{path.name}": path.read_bytes() for path in (EXAMPLES / "specs").glob("*.yaml")
    }
    files["wukong/notes.yaml"] = b"kind: ConfigMap\nmetadata: {name: not-a-vm}\n"
    for i in range(count):
        doc = wukong(f"vm-{i}", ("vms", "ops", None)[i % 3], BOOT, cpu=1 + i % 4)
        files[f"wukong/gen/vm-{i}.yaml"] = as_yaml(doc).encode()
    return files


def edited(specs: dict[str, bytes], *names: str) -> dict[str, bytes]:
    return specs | {
        f"wukong/gen/{name}.yaml": as_yaml(wukong(name, "vms", BOOT, cpu=7)).encode()
        for name in names
    }


def test_a_fresh_instance_reads_only_the_plan_cache_and_the_changed_specs() -> None:
    specs = generated(30)
    output, _ = commit_back(specs, {}, Caches())
    caches = sorted(p for p in output if is_cache_file(p))
    # The root one holds the records of files that make no VM (notes.yaml).
    assert caches == [".wukong-cache", "ops/.wukong-cache", "vms/.wukong-cache"]
    specs = edited(specs, "vm-3", "vm-4")
    fresh, reads = commit_back(specs, output, Caches())
    assert reads == {"wukong/gen/vm-3.yaml", "wukong/gen/vm-4.yaml", *caches}
    # Byte for byte what parsing every spec gives, plan caches included...
    parsed, _ = commit_back(
        specs, {p: d for p, d in output.items() if not is_cache_file(p)}, Caches()
    )
    assert fresh == parsed
    # ...and, but for them, what the CLI writes, which parses everything and reads no cache.
    cli = run(list(specs.items()), previous=output, default_namespace="vms", extras=presync_hooks())
    assert {p: d for p, d in fresh.items() if not is_cache_file(p)} == {
        p: d for p, d in cli.files.items() if not is_cache_file(p)
    }


def test_a_warm_instance_reads_only_the_changed_specs() -> None:
    caches, specs = Caches(), generated(30)
    output, _ = commit_back(specs, {}, caches)
    output, reads = commit_back(edited(specs, "vm-5"), output, caches)
    assert reads == {"wukong/gen/vm-5.yaml"}  # the plan cache is its own: never read back
    again, reads = commit_back(edited(specs, "vm-5"), output, caches)
    assert (again, reads) == (output, set())


def test_a_hand_edit_of_the_plan_cache_costs_a_parse_and_changes_nothing_else() -> None:
    specs = generated(12)
    output, _ = commit_back(specs, {}, Caches())
    lines = output["vms/.wukong-cache"].splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"name":"vm-3",' in line)
    assert b'"cpu":4' in lines[at]
    lines[at] = lines[at].replace(b'"cpu":4', b'"cpu":8')  # vm-3's plan line, by hand
    files, reads = commit_back(specs, output | {"vms/.wukong-cache": b"".join(lines)}, Caches())
    assert files == output, "the render and the rewritten cache are exactly a clean render's"
    assert "wukong/gen/vm-3.yaml" in reads and len([r for r in reads if "/gen/" in r]) == 1
    garbage = output | {"vms/.wukong-cache": b"# generated by wukong\n\x00garbage\n{]"}
    assert commit_back(specs, garbage, Caches())[0] == output


def test_a_forged_record_is_what_render_check_catches() -> None:
    # A stamp is a digest, not a signature (SECURITY.md): whoever can push can forge a record
    # that commit-back then trusts, as they can push any manifest. The CLI reads no cache, so
    # `wukong render --check` in CI holds the output to the specs.
    specs = generated(3)
    output, _ = commit_back(specs, {}, Caches())
    header, head, plan, *rest = output["vms/.wukong-cache"].decode().splitlines(keepends=True)
    assert '"file":"wukong/empty-vm.yaml"' in head and '"cpu":1,' in plan
    record = head.partition(" ")[2] + plan.replace('"cpu":1,', '"cpu":64,').rstrip("\n")
    stamp = plan_cache._stamp(plan_cache.context("vms", "confirm"), record)
    output["vms/.wukong-cache"] = "".join([header, f"{stamp} {record}\n", *rest]).encode()
    trusted, _ = commit_back(specs, output, Caches())
    assert b'"cpu":64' in trusted["vms/wukong-presync-plan.yaml"]
    cli = run(
        list(specs.items()), previous=trusted, default_namespace="vms", extras=presync_hooks()
    )
    assert changes(trusted, cli.files), "render --check would fail on the forged VM"


def test_other_settings_parse_every_spec_again() -> None:
    specs = generated(6)
    output, _ = commit_back(specs, {}, Caches())
    files, reads = commit_back(specs, output, Caches(), namespace="lab")
    assert {p for p in specs} <= reads
    assert "lab/.wukong-cache" in files and "vms/.wukong-cache" in files


def test_the_plan_cache_of_a_namespace_goes_with_its_last_vm() -> None:
    specs = generated(6)
    output, _ = commit_back(specs, {}, Caches())
    assert "ops/.wukong-cache" in output
    kept = {p: d for p, d in specs.items() if b"namespace: ops" not in d}
    files, _ = commit_back(kept, output, Caches())
    assert not any(p.startswith("ops/") for p in files)
    assert [c.path for c in changes(output, files) if c.kind == "removed"] == sorted(
        p for p in output if p.startswith("ops/")
    ), "every file of the namespace, its plan cache too, is Wukong's and goes"


def test_kustomize_builds_the_output_with_its_plan_caches_and_lists_none(tmp_path: Path) -> None:
    output, _ = commit_back(generated(6), {}, Caches())
    for path, data in output.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    assert all(CACHE_FILE.encode() not in d for p, d in output.items() if "kustomization" in p)
    built = kustomize(tmp_path)
    vms = [o for o in built if o["kind"] == "VirtualMachine"]
    assert len(vms) == len(
        [d for d in output.values() if d.startswith(b"# generated by wukong from")]
    )
    assert kustomize(tmp_path / "vms")
