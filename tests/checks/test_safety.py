"""What a render does to data: the comparison of a render with the output (or the cluster) it
replaces. Each test renders specs as a user writes them, edits them, renders again and reads the
findings; the cluster tests run once against the live fake API and once against a snapshot."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.kube_objects import namespace, owner, vm
from tests.kube_storage import datavolume, pvc, storage_class
from tests.specs import as_yaml, plan_all, wukong
from wukong_core.caches import Caches
from wukong_core.checks import safety
from wukong_core.checks.reads import Reads
from wukong_core.findings import Finding
from wukong_core.folder import Folder, blob_id
from wukong_core.plan import VmPlan
from wukong_core.render.manifests import SYNC_OPTIONS, render_output, render_tree, render_vm
from wukong_core.render.presync import presync_hooks

pytest_plugins = ["tests.kube"]

IMAGE = "docker://quay.io/containerdisks/fedora:41"
SYSTEM = {"name": "system", "size": "20Gi", "image": IMAGE}
DATA = {"name": "data", "size": "50Gi"}
ATTACHED = {"name": "data", "existingPVC": {"name": "shared-data"}}


def plans_of(*documents: dict[str, Any], file: str = "wukong/web.yaml") -> list[VmPlan]:
    plans, findings = plan_all({file: as_yaml(*documents)})
    assert not [f for f in findings if f.severity.value == "error"], findings
    return plans


def web(*disks: dict[str, Any], name: str = "web", ns: str = "vms", **spec: Any) -> dict:
    return wukong(name, ns, disks=disks or (SYSTEM, DATA), **spec)


def compare(
    before: list[VmPlan], after: list[VmPlan], cluster: Any = None, **previous_extra: bytes
) -> list[Finding]:
    """Render `before`, then `after` over it; the findings of the second render."""
    previous = render_tree(before, presync_hooks()) | previous_extra
    files = render_tree(after, presync_hooks(), previous)
    reads = Reads(cluster) if cluster is not None else None
    return safety.compare_output(previous, files, after, "rendered/", reads)


class Unread:
    """An output folder whose bytes are not at hand (a partial clone): each read recorded."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.data = {blob_id(data): data for data in files.values()}
        self.folder = Folder({path: blob_id(data) for path, data in files.items()}, self)
        self.reads: list[str] = []

    def peek(self, blob: str) -> bytes | None:
        return None

    def read_blobs(self, blobs: list[str]) -> dict[str, bytes]:
        self.reads += blobs
        return {blob: self.data[blob] for blob in blobs}


def compare_unread(before: list[VmPlan], after: list[VmPlan]) -> tuple[list[Finding], int]:
    """`compare` as a warm commit-back makes it: the folder's bytes unread, the VM files known
    by blob id from the render that wrote them. The findings, and how many files were read."""
    caches = Caches()
    previous = Unread(render_tree(before, presync_hooks(), caches=caches))
    output = render_output(after, presync_hooks(), previous.folder, caches)
    findings = safety.compare_output(
        previous.folder, output.files, after, "rendered/", None, output.kept, caches.vm_plans.get
    )
    return findings, len(previous.reads)


def summary(findings: list[Finding]) -> list[tuple[str, str, int, str]]:
    return [(f.code, f.file, f.line, f.object) for f in findings]


def lacks(finding: Finding, *fragments: str) -> list[str]:
    """What of `fragments` the finding's message does not say."""
    return [fragment for fragment in fragments if fragment not in finding.message]


# --- nothing to report ---------------------------------------------------------------------------


def test_a_first_render_into_an_empty_output_folder_reports_nothing() -> None:
    after = plans_of(web())
    assert safety.compare_output({}, render_tree(after), after, "rendered/") == []


def test_a_change_of_cpu_memory_or_run_strategy_reports_nothing() -> None:
    changed = web(cpu=4, memory="8Gi", runStrategy="Halted")
    assert compare(plans_of(web()), plans_of(changed)) == []


def test_only_a_vm_file_whose_disks_changed_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Commit-back renders every spec on every push: unchanged files are not even searched, and
    # a changed file is parsed only when its dataVolumeTemplates text changed.
    parsed: list[bytes] = []
    load = safety.load_vm
    monkeypatch.setattr(safety, "load_vm", lambda data: parsed.append(data) or load(data))
    others = [web(name=f"vm{i}") for i in range(5)]
    before = plans_of(web(), *others)
    assert compare(before, plans_of(web(cpu=8), *others)) == []
    assert parsed == []
    bigger = web({**SYSTEM, "size": "40Gi"}, DATA)
    assert [f.code for f in compare(before, plans_of(bigger, *others))] == ["disk.change-ignored"]
    assert len(parsed) == 1 and b"name: web\n" in parsed[0]


def test_a_file_of_another_render_format_with_the_same_disks_reports_nothing() -> None:
    # A new Wukong release writes every VM file anew; its disks did not change.
    (plan,) = plans_of(web())
    (path, data), *_ = render_tree([plan]).items()
    older = data.replace(
        b"    argocd.argoproj.io/sync-options: Prune=confirm,Delete=confirm\n", b""
    )
    assert older != data
    assert safety.compare_output({path: older}, {path: data}, [plan]) == []


def test_a_vm_file_laid_out_by_hand_is_parsed_and_compared() -> None:
    (plan,) = plans_of(web({**SYSTEM, "size": "40Gi"}, DATA))
    path = "vms/web.yaml"
    by_hand = (
        b"# generated by wukong from wukong/web.yaml; do not edit\n"
        b"kind: VirtualMachine\nspec: {runStrategy: Always, dataVolumeTemplates: [\n"
        b"  {metadata: {name: web-system}, spec: {source: {registry: {url: '"
        + IMAGE.encode()
        + b"'}}, storage: {resources: {requests: {storage: 20Gi}}}}}]}\n"
    )
    files = render_tree([plan])
    [found] = safety.compare_output({path: by_hand}, files, [plan])
    assert found.code == "disk.change-ignored" and "size 20Gi -> 40Gi" in found.message


def test_files_that_are_not_wukongs_vms_are_neither_read_nor_reported() -> None:
    before = after = plans_of(web())
    extra = {
        "vms/hand-written.yaml": b"apiVersion: kubevirt.io/v1\nkind: VirtualMachine\n",
        "vms/broken.yaml": b"# generated by wukong from wukong/x.yaml; do not edit\n: [\n",
        "NOTES.md": b"# generated by wukong from nowhere\n",
    }
    assert compare(before, after, **extra) == []


# --- vm.removed ----------------------------------------------------------------------------------


def test_a_removed_vm_that_owned_disks_names_every_pvc_a_confirmed_prune_deletes() -> None:
    before = plans_of(web(), web(ATTACHED, name="db"))
    after = plans_of(web(ATTACHED, name="db"))
    [found] = compare(before, after)
    assert summary([found]) == [("vm.removed", "rendered/vms/web.yaml", 1, "vms/web")]
    assert found.message.startswith("VM vms/web (from wukong/web.yaml) is no longer rendered")
    assert (
        lacks(
            found,
            "PersistentVolumeClaims vms/web-data, vms/web-system",
            "once its prune is confirmed",
            "the Application's sync stays running and holds back its other changes",
            "restore its spec",
            "kubectl delete vm web -n vms --cascade=orphan",
            "PrunePropagationPolicy=orphan",
        )
        == []
    )


def test_a_removed_vm_without_disks_of_its_own_takes_no_data_with_it() -> None:
    before = plans_of(web(), web(ATTACHED, name="db"))
    assert compare(before, plans_of(web())) == []


@pytest.mark.parametrize(
    ("protect", "says"),
    [
        ("never", "Argo CD will not prune it (Prune=false)"),
        ("off", "without asking anyone: it carries no Prune=confirm"),
    ],
)
def test_what_a_removal_does_follows_the_protection_the_vm_carried(protect: str, says: str) -> None:
    before = [replace(plan, protect_disks=protect) for plan in plans_of(web())]
    [found] = compare(before, [])
    assert found.code == "vm.removed" and says in found.message


# --- vm.renamed ----------------------------------------------------------------------------------


def test_a_renamed_vm_is_reported_on_its_spec_with_how_to_keep_the_data() -> None:
    [found] = compare(plans_of(web()), plans_of(web(name="web2")))
    assert summary([found]) == [("vm.renamed", "wukong/web.yaml", 1, "vms/web2")]
    assert found.message.startswith("wukong/web.yaml now renders VM vms/web2 instead of VM vms/web")
    assert (
        lacks(
            found,
            "the prune deletes them even when the new VM attaches them",
            "PersistentVolumeClaims vms/web-data, vms/web-system",
            "kubectl delete vm web -n vms --cascade=orphan",
            "attach them to the new VM with existingPVC",
        )
        == []
    )


def test_a_vm_moved_to_another_namespace_is_renamed_and_its_disks_can_only_be_cloned() -> None:
    [found] = compare(plans_of(web()), plans_of(web(ns="prod")))
    assert summary([found]) == [("vm.renamed", "wukong/web.yaml", 1, "prod/web")]
    assert "instead of VM vms/web" in found.message
    assert "existingPVC (namespace: vms: from another namespace they are cloned)" in found.message


def test_a_vm_whose_spec_file_is_renamed_too_is_removed() -> None:
    before = plans_of(web())
    after = plans_of(web(name="web2"), file="wukong/web2.yaml")
    assert [f.code for f in compare(before, after)] == ["vm.removed"]


def test_a_renamed_vm_without_disks_of_its_own_reports_nothing() -> None:
    assert compare(plans_of(web(ATTACHED)), plans_of(web(ATTACHED, name="web2"))) == []


# --- disk.change-ignored ---------------------------------------------------------------------


def test_a_larger_size_says_to_expand_the_pvc_and_what_that_needs() -> None:
    bigger = {**SYSTEM, "size": "40Gi"}
    [found] = compare(plans_of(web()), plans_of(web(bigger, DATA)))
    size_line = 11  # `size: 40Gi` of disk `system` in the spec as_yaml writes: the field changed
    assert summary([found]) == [("disk.change-ignored", "wukong/web.yaml", size_line, "vms/web")]
    message = found.message
    assert message.startswith("disk 'system' of VM vms/web changes size 20Gi -> 40Gi")
    assert "KubeVirt creates a VM's DataVolumes only when they are missing" in message
    assert (
        "kubectl patch pvc web-system -n vms --type merge -p "
        """'{"spec":{"resources":{"requests":{"storage":"40Gi"}}}}'"""
    ) in message
    assert "allowVolumeExpansion: true (no cluster to check)" in message
    assert "ExpandDisks feature gate" in message


def test_a_new_image_and_size_are_one_finding_with_both_fixes() -> None:
    newer = {**SYSTEM, "size": "30Gi", "image": "docker://quay.io/containerdisks/fedora:42"}
    [found] = compare(plans_of(web()), plans_of(web(newer, DATA)))
    assert f"changes image {IMAGE} -> docker://quay.io/containerdisks/fedora:42, size" in (
        found.message
    )
    assert "To start from the new image, add it as a disk of another name" in found.message
    assert "To grow it, expand the PVC" in found.message


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ({"size": "10Gi"}, "size 20Gi -> 10Gi"),
        ({"storageClass": "slow"}, "storageClass unset -> slow"),
        ({"accessMode": "ReadWriteMany"}, "accessMode unset -> ReadWriteMany"),
        ({"volumeMode": "Block"}, "volumeMode unset -> Block"),
    ],
)
def test_each_storage_setting_of_an_existing_disk_is_reported(edit: dict, says: str) -> None:
    [found] = compare(plans_of(web()), plans_of(web({**SYSTEM, **edit}, DATA)))
    assert found.code == "disk.change-ignored"
    assert says in found.message


def test_a_disk_that_changes_source_kind_is_reported() -> None:
    blank = {"name": "system", "size": "20Gi"}
    [found] = compare(plans_of(web()), plans_of(web(blank, DATA)))
    assert f"changes source {IMAGE} -> blank" in found.message


def test_a_disk_that_changes_golden_image_is_reported() -> None:
    fedora = {"name": "system", "dataSource": {"name": "fedora", "namespace": "os-images"}}
    centos = {"name": "system", "dataSource": {"name": "centos", "namespace": "os-images"}}
    [found] = compare(plans_of(web(fedora, DATA)), plans_of(web(centos, DATA)))
    assert "changes source DataSource os-images/fedora -> DataSource os-images/centos" in (
        found.message
    )
    [found] = compare(plans_of(web()), plans_of(web(fedora, DATA)))
    assert f"changes source {IMAGE} -> DataSource os-images/fedora" in found.message
    assert compare(plans_of(web(fedora, DATA)), plans_of(web(fedora, DATA))) == []


def test_the_same_size_written_another_way_is_no_change() -> None:
    same = {**SYSTEM, "size": str(20 * 2**30)}
    assert compare(plans_of(web()), plans_of(web(same, DATA))) == []


def test_a_new_or_removed_disk_is_not_a_change_of_an_existing_one() -> None:
    assert compare(plans_of(web(SYSTEM)), plans_of(web(SYSTEM, DATA))) == []
    assert compare(plans_of(web(SYSTEM, DATA)), plans_of(web(SYSTEM))) == []


# --- against the cluster -------------------------------------------------------------------------


def _expandable(name: str, allowed: bool, **kw: Any) -> dict[str, Any]:
    sc = storage_class(name, **kw)
    sc["allowVolumeExpansion"] = allowed
    return sc


def _web_disks(machine: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    owners = owner(machine) if machine else None
    return [
        datavolume("vms", "web-system", owners=owners),
        pvc("vms", "web-system", storage_class="ceph"),
    ]


def _bigger() -> list[VmPlan]:
    return plans_of(web({**SYSTEM, "size": "40Gi"}, DATA))


def test_a_class_that_allows_expansion_is_named(make_view: Any) -> None:
    view = make_view(namespace("vms"), _expandable("ceph", True), *_web_disks())
    [found] = compare(plans_of(web()), _bigger(), view)
    assert "(StorageClass ceph allows volume expansion)" in found.message


def test_a_class_that_cannot_expand_says_so_and_offers_the_ways_that_work(make_view: Any) -> None:
    view = make_view(namespace("vms"), _expandable("ceph", False), *_web_disks())
    [found] = compare(plans_of(web()), _bigger(), view)
    assert "StorageClass ceph does not allow volume expansion" in found.message
    assert "kubectl patch" not in found.message


def test_a_disk_not_created_yet_takes_the_new_template(make_view: Any) -> None:
    view = make_view(namespace("vms"), _expandable("ceph", True))
    assert compare(plans_of(web()), _bigger(), view) == []


def test_a_disk_being_imported_has_the_default_class_cdi_picks(make_view: Any) -> None:
    # The DataVolume exists, its PVC not yet: CDI gives it the virtualization default class
    # before the Kubernetes default.
    view = make_view(
        namespace("vms"),
        _expandable("standard", False, default=True),
        _expandable("virt", True, virt_default=True),
        datavolume("vms", "web-system", phase="ImportScheduled"),
    )
    [found] = compare(plans_of(web()), _bigger(), view)
    assert "(StorageClass virt allows volume expansion)" in found.message


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_class_that_cannot_be_read_is_not_guessed(make_view: Any, kube_api: Any) -> None:
    kube_api.forbid("storageclasses")  # check_cluster reports the read itself
    view = make_view(namespace("vms"), _expandable("ceph", False), *_web_disks())
    [found] = compare(plans_of(web()), _bigger(), view)
    assert "allowVolumeExpansion: true (its StorageClass is unknown)" in found.message


# --- the PreSync Job: the live VMs -------------------------------------------------------------


def _live(plan: VmPlan) -> dict[str, Any]:
    """The VirtualMachine as the API serves it after Argo CD applied `plan`'s manifest."""
    machine = vm(plan.namespace, plan.name)
    rendered = render_vm(plan)
    machine["metadata"]["labels"] = rendered["metadata"]["labels"]
    machine["metadata"]["annotations"] = rendered["metadata"]["annotations"]
    machine["spec"] = rendered["spec"]
    return machine


def test_the_presync_job_reports_what_the_sync_prunes_and_ignores(make_view: Any) -> None:
    old, db = plans_of(web()), plans_of(web(ATTACHED, name="db"), file="wukong/db.yaml")
    live = [_live(p) for p in old + db]
    stranger = vm("vms", "not-ours", dvs=("not-ours-disk",))
    view = Reads(
        make_view(namespace("vms"), _expandable("ceph", True), stranger, *live, *_web_disks())
    )

    assert safety.compare_cluster(old + db, view) == []
    renamed = safety.compare_cluster(plans_of(web(name="web2")) + db, view)
    assert summary(renamed) == [("vm.renamed", "wukong/web.yaml", 1, "vms/web2")]
    removed = safety.compare_cluster(db, view)
    assert summary(removed) == [("vm.removed", "", 0, "vms/web")]
    assert "once its prune is confirmed" in removed[0].message
    [grown] = safety.compare_cluster(_bigger() + db, view)
    assert grown.code == "disk.change-ignored"
    assert "(StorageClass ceph allows volume expansion)" in grown.message


def test_the_presync_job_skips_a_vm_already_being_deleted(make_view: Any) -> None:
    (plan,) = plans_of(web())
    going = _live(plan)
    going["metadata"]["deletionTimestamp"] = "2026-11-20T11:00:00Z"
    going["metadata"]["finalizers"] = ["kubevirt.io/virtualMachineControllerFinalize"]
    view = Reads(make_view(namespace("vms"), going))
    assert safety.compare_cluster(plans_of(web(ATTACHED, name="db")), view) == []


def test_the_sync_options_of_a_live_vm_are_what_argo_cd_reads() -> None:
    # The annotation the comparison reads is the one render writes.
    (plan,) = plans_of(web())
    assert render_vm(plan)["metadata"]["annotations"][SYNC_OPTIONS] == (
        "Prune=confirm,Delete=confirm"
    )


@pytest.mark.parametrize(
    "after",
    [
        [web(SYSTEM, DATA, cpu=4)],  # the same disks
        [web(SYSTEM, {**DATA, "size": "80Gi"})],  # a disk grown
        [web(SYSTEM)],  # a disk removed
        [web(name="api")],  # renamed
        [],  # removed
    ],
    ids=["same-disks", "grown", "disk-removed", "renamed", "removed"],
)
def test_a_render_that_knows_the_vm_files_it_replaces_reads_none_and_finds_the_same(
    after: list[dict[str, Any]],
) -> None:
    before = plans_of(web(SYSTEM, DATA))
    new = plans_of(*after) if after else []
    findings, reads = compare_unread(before, new)
    # A namespace that goes: its two PreSync hook files are read, to see they are no VMs.
    assert (findings, reads) == (compare(before, new), 0 if after else 2)
