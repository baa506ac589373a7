"""A fresh instance (Cloud Run after idle, any new instance) against a real Git server: it
fetches the trees, the plan cache and the specs that changed, and commits byte for byte what a
full parse of the repository makes (tests/gitserver.py serves the repositories)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.conftest import EXAMPLES
from tests.specs import as_yaml, wukong
from wukong_core.caches import Caches
from wukong_core.git.commit import CommitRequest, SourceTree, commit_manifests
from wukong_core.pipeline import render_repository

if TYPE_CHECKING:
    from tests.gitserver import GitServer

pytest_plugins = ["tests.gitserver"]

BOOT = [{"name": "system", "size": "10Gi", "image": "docker://quay.io/containerdisks/fedora:40"}]
OUTPUT = "rendered/"


def specs(count: int = 12) -> dict[str, bytes]:
    files = {f"wukong/{p.name}": p.read_bytes() for p in sorted((EXAMPLES / "specs").glob("*"))}
    for i in range(count):
        doc = wukong(f"vm-{i}", ("vms", "ops")[i % 2], BOOT, cpu=1 + i % 4)
        files[f"wukong/gen/vm-{i}.yaml"] = as_yaml(doc).encode()
    return files


def edit(name: str, namespace: str, cpu: int) -> dict[str, bytes]:
    return {f"wukong/gen/{name}.yaml": as_yaml(wukong(name, namespace, BOOT, cpu=cpu)).encode()}


def deliver(server: GitServer, name: str, caches: Caches) -> str:
    def renderer(tree: SourceTree):  # type: ignore[no-untyped-def]
        return render_repository(tree, branch="main", default_branch="main", caches=caches)

    request = CommitRequest(
        server.url(name), "main", renderer, "d", username=server.user, token=server.token
    )
    return commit_manifests(request).status


def output(server: GitServer, name: str) -> dict[str, bytes]:
    files = server.files(name, "main")
    return {p.removeprefix(OUTPUT): d for p, d in files.items() if p.startswith(OUTPUT)}


def full_parse(server: GitServer, name: str) -> dict[str, bytes]:
    """What rendering every spec of the branch head gives, every byte at hand, no cache read."""
    files = {p: d for p, d in server.files(name, "main").items() if not p.startswith(OUTPUT)}
    return render_repository(SourceTree.from_files("0" * 40, files)).files


def ids(server: GitServer, name: str, *paths: str) -> set[str]:
    return {server.git_id(name, f"main:{path}") for path in paths}


def test_a_fresh_instance_fetches_the_trees_the_plan_cache_and_the_changed_specs_only(
    git_server: GitServer,
) -> None:
    git_server.create_repo("fresh-1", specs())
    assert deliver(git_server, "fresh-1", Caches()) == "committed"
    caches = sorted(
        OUTPUT + p for p in output(git_server, "fresh-1") if p.endswith(".wukong-cache")
    )
    assert caches == ["rendered/ops/.wukong-cache", "rendered/vms/.wukong-cache"]
    git_server.human_push("fresh-1", edit("vm-3", "ops", 8) | edit("vm-4", "vms", 8))
    head = git_server.head("fresh-1")
    before = len(git_server.fetches("fresh-1"))
    wanted = ids(git_server, "fresh-1", *caches) | ids(
        git_server, "fresh-1", "wukong/gen/vm-3.yaml", "wukong/gen/vm-4.yaml"
    )
    assert deliver(git_server, "fresh-1", Caches()) == "committed"
    (first, partial), *rest = git_server.fetches("fresh-1")[before:]
    assert (first, partial) == ({head}, "blob:none"), "the commit and its trees, no blob"
    assert set().union(*(w for w, _ in rest)) == wanted, "no other spec, no VM file"
    assert output(git_server, "fresh-1") == full_parse(git_server, "fresh-1")


def test_a_warm_instance_fetches_only_the_changed_specs(git_server: GitServer) -> None:
    git_server.create_repo("warm-1", specs())
    caches = Caches()
    assert deliver(git_server, "warm-1", caches) == "committed"
    git_server.human_push("warm-1", edit("vm-5", "ops", 8))
    before = len(git_server.fetches("warm-1"))
    assert deliver(git_server, "warm-1", caches) == "committed"
    (_, partial), *rest = git_server.fetches("warm-1")[before:]
    assert partial == "blob:none"
    assert set().union(*(w for w, _ in rest)) == ids(git_server, "warm-1", "wukong/gen/vm-5.yaml")
    assert output(git_server, "warm-1") == full_parse(git_server, "warm-1")


def test_a_plan_cache_edited_by_hand_is_parsed_around_and_repaired(git_server: GitServer) -> None:
    git_server.create_repo("tampered-1", specs())
    assert deliver(git_server, "tampered-1", Caches()) == "committed"
    clean = output(git_server, "tampered-1")
    lines = clean["vms/.wukong-cache"].splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"name":"vm-2",' in line)
    lines[at] = lines[at].replace(b'"cpu":3', b'"cpu":9')
    git_server.human_push("tampered-1", {"rendered/vms/.wukong-cache": b"".join(lines)})
    before = len(git_server.fetches("tampered-1"))
    assert deliver(git_server, "tampered-1", Caches()) == "committed"
    assert output(git_server, "tampered-1") == clean, "the VM as its spec says; the cache repaired"
    fetched = set().union(*(w for w, _ in git_server.fetches("tampered-1")[before:]))
    assert ids(git_server, "tampered-1", "wukong/gen/vm-2.yaml") <= fetched, "parsed again"


def test_a_server_that_cannot_filter_gets_the_same_commit(git_server: GitServer) -> None:
    git_server.create_repo("filtered-1", specs())
    git_server.create_repo("unfiltered-1", specs(), filters=False)
    for name in ("filtered-1", "unfiltered-1"):
        assert deliver(git_server, name, Caches()) == "committed"
        git_server.human_push(name, edit("vm-1", "ops", 8))
        assert deliver(git_server, name, Caches()) == "committed"
    assert output(git_server, "unfiltered-1") == output(git_server, "filtered-1")
    assert {spec for _, spec in git_server.fetches("unfiltered-1")} == {None}


def test_the_plan_cache_goes_with_the_last_vm_of_its_namespace(git_server: GitServer) -> None:
    git_server.create_repo("pruned-1", specs(4))
    assert deliver(git_server, "pruned-1", Caches()) == "committed"
    assert "ops/.wukong-cache" in output(git_server, "pruned-1")
    gone = tuple(f"wukong/gen/vm-{i}.yaml" for i in (1, 3))  # the two VMs in ops
    git_server.human_push("pruned-1", {}, delete=gone)
    assert deliver(git_server, "pruned-1", Caches()) == "committed"
    assert not any(path.startswith("ops/") for path in output(git_server, "pruned-1"))
    assert output(git_server, "pruned-1") == full_parse(git_server, "pruned-1")
