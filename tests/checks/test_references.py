"""Cluster checks of what a spec names besides PVCs (Multus networks, instancetypes and
preferences, golden-image DataSources): one test per finding code, each against the live fake
API and a snapshot holding the same objects (`make_view`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import specs
from tests.checks.test_cluster import BASE, check, codes, is_live, only, wukong
from tests.kube import FakeApi
from tests.kube_objects import instancetype, namespace, network_attachment_definition, preference
from tests.kube_storage import datasource, datavolume, populated_pvc
from wukong_core.checks.cluster import check_cluster
from wukong_core.checks.reads import Reads

pytest_plugins = ["tests.kube"]

# What a cluster with KubeVirt's common instancetypes, Multus and CDI golden images holds besides
# the objects a test names: one object of each kind, so a snapshot has recorded every kind.
GOLDEN = "kubevirt-os-images"
NAMED = (
    *BASE,
    namespace(GOLDEN),
    instancetype("u1.small", 1, "2Gi"),
    preference("alpine", secure_boot=False),
    network_attachment_definition("vms", "storage-net", vlan=200),
    datasource(GOLDEN, "centos-stream9"),
)


def golden(source: str = "fedora", ns: str | None = GOLDEN, **fields: Any) -> dict[str, Any]:
    ref = {"name": source} | ({"namespace": ns} if ns else {})
    return {"name": "root", "dataSource": ref} | fields


def multus(*networks: str) -> dict[str, Any]:
    listed = [{"name": "default", "network": "pod"}]
    listed += [{"name": f"net{i}", "network": n} for i, n in enumerate(networks, 1)]
    return {"networks": listed}


def test_what_exists_reports_nothing(make_view: Any) -> None:
    plan = wukong(
        "dev",
        golden(),
        instancetype={"name": "u1.medium"},
        preference={"name": "fedora"},
        **multus("lab", "infra/lab"),
    )
    objects = (
        instancetype("u1.medium"),
        preference("fedora"),
        network_attachment_definition("vms", "lab"),
        namespace("infra"),
        network_attachment_definition("infra", "lab"),
        datasource(GOLDEN, "fedora"),
    )
    # The clone from the golden-image namespace is the offline check's info finding.
    assert check(make_view, plan, *objects, base=NAMED) == []


# --- instancetypes and preferences --------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "ref", "line", "listed"),
    [
        ("instancetype", {"name": "u1.huge"}, 5, "kubectl get virtualmachineclusterinstancetypes"),
        (
            "instancetype",
            {"name": "u1.small", "kind": "VirtualMachineInstancetype"},  # a cluster one exists
            5,
            "kubectl get virtualmachineinstancetypes -n vms",
        ),
        ("preference", {"name": "fedora"}, 6, "kubectl get virtualmachineclusterpreferences"),
        (
            "preference",
            {"name": "team", "kind": "VirtualMachinePreference"},
            6,
            "kubectl get virtualmachinepreferences -n vms",
        ),
    ],
)
def test_instancetype_and_preference_not_found(
    make_view: Any, field: str, ref: dict[str, str], line: int, listed: str
) -> None:
    """KubeVirt v1.6 admits a VM whose instancetype or preference is missing and never starts
    it: only Wukong's own look-up says so before the sync."""
    spec = {field: ref} | (
        {} if field == "instancetype" else {"instancetype": {"name": "u1.small"}}
    )
    found = check(make_view, wukong("web", **spec), preference("team", ns="other"), base=NAMED)
    f = only(found, f"{field}.not-found")
    assert codes(found) == [f"{field}.not-found"]
    assert (f.severity.value, f.file, f.line, f.object) == (
        "error",
        "wukong/web.yaml",
        line,
        "vms/web",
    )
    assert f"{ref['name']!r} (the {field} of VM vms/web) does not exist" in f.message
    assert "never starts it" in f.message and listed in f.message


def test_a_namespaced_instancetype_is_looked_up_in_the_vm_namespace(make_view: Any) -> None:
    spec = {
        "instancetype": {"name": "big", "kind": "VirtualMachineInstancetype"},
        "preference": {"name": "team", "kind": "VirtualMachinePreference"},
    }
    objects = (instancetype("big", 8, "32Gi", ns="vms"), preference("team", ns="vms"))
    assert check(make_view, wukong("web", **spec), *objects, base=NAMED) == []


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_kubevirt_without_the_instancetype_api_finds_no_instancetype(
    kube_api: FakeApi, make_view: Any
) -> None:
    kube_api.missing_groups.add("instancetype.kubevirt.io")
    found = check(make_view, wukong("web", instancetype={"name": "u1.medium"}), base=NAMED)
    f = only(found, "instancetype.not-found")
    assert codes(found) == ["instancetype.not-found"] and f.line == 5
    assert "serves no virtualmachineclusterinstancetypes.instancetype.kubevirt.io" in f.message
    assert "size the VM with cpu and memory" in f.message


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_without_kubevirt_only_that_is_reported(kube_api: FakeApi, make_view: Any) -> None:
    kube_api.missing_groups |= {"kubevirt.io", "instancetype.kubevirt.io"}
    plan = wukong("web", instancetype={"name": "u1.medium"}, preference={"name": "fedora"})
    assert codes(check(make_view, plan, base=NAMED)) == ["cluster.kubevirt-missing"]


# --- Multus networks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "nad", "line"),
    [("lab", "vms/lab", 7), ("infra/lab", "infra/lab", 7)],
)
def test_network_not_found(make_view: Any, network: str, nad: str, line: int) -> None:
    objects = (namespace("infra"), network_attachment_definition("vms", "other"))
    found = check(make_view, wukong("web", **multus(network)), *objects, base=NAMED)
    f = only(found, "network.not-found")
    assert codes(found) == ["network.not-found"]
    assert (f.severity.value, f.line, f.object) == ("error", line + 1, "vms/web")
    assert f"NetworkAttachmentDefinition {nad} (network 'net1' of VM vms/web)" in f.message
    assert "does not exist" in f.message and "cannot start it" in f.message


def test_each_missing_network_is_reported_at_its_own_line(make_view: Any) -> None:
    found = check(make_view, wukong("web", **multus("a", "storage-net", "b")), base=NAMED)
    assert [(f.code, f.line) for f in found] == [
        ("network.not-found", 8),
        ("network.not-found", 10),
    ]


def test_the_pod_network_and_kubevirt_s_default_read_no_nads(
    make_view: Any, request: pytest.FixtureRequest
) -> None:
    plans = [wukong("a"), wukong("b", networks=[{"name": "default", "network": "pod"}])]
    assert check(make_view, plans, base=NAMED) == []
    if is_live(request):
        api: FakeApi = request.getfixturevalue("kube_api")
        assert api.lists("network-attachment-definitions") == []


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_multus_network_where_multus_is_not_installed(kube_api: FakeApi, make_view: Any) -> None:
    kube_api.missing_groups.add("k8s.cni.cncf.io")
    plans = [wukong("web", **multus("lab")), wukong("db", **multus("lab"))]
    found = check(make_view, plans, base=NAMED)
    assert [(f.code, f.object) for f in found] == [
        ("network.not-found", "vms/db"),
        ("network.not-found", "vms/web"),
    ]
    assert "does not serve k8s.cni.cncf.io (Multus is not installed)" in found[0].message


# --- golden images ------------------------------------------------------------------------------


def test_datasource_not_found(make_view: Any) -> None:
    found = check(make_view, wukong("web", golden("fedora")), base=NAMED)
    f = only(found, "datasource.not-found")
    assert codes(found) == ["datasource.not-found"]
    assert (f.severity.value, f.line, f.object) == ("error", 10, "vms/web")
    assert f'DataSource {GOLDEN}/fedora (disk "root") does not exist' in f.message
    assert "KubeVirt refuses VM vms/web" in f.message


def test_datasource_not_ready_until_its_import_cron_has_run(make_view: Any) -> None:
    found = check(make_view, wukong("web", golden()), datasource(GOLDEN, "fedora", ready=False))
    f = only(found, "datasource.not-ready")
    assert codes(found) == ["datasource.not-ready"]
    assert (f.severity.value, f.line) == ("warning", 10)
    assert "Ready is False: reason NoSource, No source PVC set" in f.message
    assert "DataImportCron" in f.message and "waits" in f.message


@pytest.mark.parametrize(
    ("disk", "expected"),
    [
        ({"size": "20Gi", "volumeMode": "Filesystem"}, ["clone.too-small"]),
        ({"size": "30Gi", "volumeMode": "Filesystem"}, []),
        ({}, []),
        # Into rbd's Block: CDI measures the image's virtual size and clones any disk at least
        # that large; nobody measured it yet, so nothing is known to be wrong.
        ({"size": "20Gi"}, []),
    ],
)
def test_a_golden_image_clone_is_not_smaller_than_the_image(
    make_view: Any, disk: dict[str, str], expected: list[str]
) -> None:
    """CDI resolves the DataSource into a clone of its PVC and checks the size as for any
    clone: a 20Gi Filesystem disk from a 30Gi golden image never fills."""
    cron = datavolume(GOLDEN, "fedora-4a5b6c7d8e9f", size="30Gi")
    image_pvc = populated_pvc(cron)
    plan = wukong("web", golden("fedora", **disk))
    found = check(make_view, plan, datasource(GOLDEN, "fedora"), cron, image_pvc, base=NAMED)
    assert codes(found) == expected
    if expected:
        f = found[0]
        assert f.severity.value == "error" and "at least 30Gi" in f.message
        assert f"PersistentVolumeClaim {GOLDEN}/fedora-4a5b6c7d8e9f (of DataSource " in f.message


def test_a_datasource_of_the_vm_namespace_clones_nothing_across(make_view: Any) -> None:
    plan = wukong("web", golden("fedora", ns=None))
    assert check(make_view, plan, datasource("vms", "fedora"), base=NAMED) == []


def test_a_datasource_whose_source_is_in_a_third_namespace_needs_the_grant_there(
    make_view: Any,
) -> None:
    """CDI authorises the clone against the namespace of the PVC the DataSource points to."""
    objects = (namespace("images"), datasource("vms", "fedora", source_ns="images"))
    found = check(make_view, wukong("web", golden("fedora", ns=None)), *objects, base=NAMED)
    f = only(found, "clone.cross-namespace")
    assert f.severity.value == "info" and "datavolumes/source in 'images'" in f.message
    assert "DataSource vms/fedora, whose source is in 'images'" in f.message


def test_a_datasource_disk_is_new_storage_checked_like_any(make_view: Any) -> None:
    found = check(
        make_view,
        wukong("web", golden(storageClass="fastest")),
        datasource(GOLDEN, "fedora"),
        base=NAMED,
    )
    assert codes(found) == ["storageclass.not-found"]


@pytest.mark.parametrize("make_view", ["live"], indirect=True)
def test_a_golden_image_without_cdi_is_only_cdi_missing(kube_api: FakeApi, make_view: Any) -> None:
    """Live only: a snapshot comes from a cluster with CDI (kubectl refuses the kinds else)."""
    kube_api.missing_groups.add("cdi.kubevirt.io")
    assert codes(check(make_view, wukong("web", golden()))) == ["cluster.cdi-missing"]


# --- failed reads -------------------------------------------------------------------------------


@pytest.mark.parametrize("make_view", ["live"], indirect=True)  # a snapshot is never forbidden
@pytest.mark.parametrize(
    ("resource", "namespace_", "spec"),
    [
        ("network-attachment-definitions", "vms", multus("lab")),
        ("virtualmachineclusterinstancetypes", None, {"instancetype": {"name": "u1.medium"}}),
        ("datasources", GOLDEN, {"disks": [golden()]}),
    ],
)
def test_a_forbidden_read_is_reported_and_nothing_that_depends_on_it(
    kube_api: FakeApi, make_view: Any, resource: str, namespace_: str | None, spec: dict
) -> None:
    kube_api.forbid(resource, namespace_)
    disks = spec.pop("disks", [])
    found = check(make_view, wukong("web", *disks, **spec), base=NAMED)
    assert codes(found) == ["cluster.forbidden"]
    assert f'grant "list" on {resource}' in found[0].message


def test_every_reference_is_listed_once_per_namespace(
    make_view: Any, request: pytest.FixtureRequest
) -> None:
    """The request budget: one LIST per kind and namespace, however many specs name them."""
    plans = [
        wukong(
            f"vm-{i}",
            golden("fedora"),
            instancetype={"name": "u1.small"},
            preference={"name": "alpine"},
            **multus("storage-net"),
        )
        for i in range(20)
    ]
    found = check_cluster(plans, Reads(make_view(*NAMED, datasource(GOLDEN, "fedora"))))
    assert found == []
    if not is_live(request):
        return
    api: FakeApi = request.getfixturevalue("kube_api")
    reads = [(r.resource.plural, r.namespace) for r in api.lists()]
    assert len(reads) == len(set(reads))
    assert {
        ("network-attachment-definitions", "vms"),
        ("virtualmachineclusterinstancetypes", None),
        ("virtualmachineclusterpreferences", None),
        ("datasources", GOLDEN),
    } <= set(reads)


@pytest.mark.parametrize(
    ("sizing", "topology", "unmet"),
    [
        # cpu is written as sockets (of one core, one thread): what KubeVirt counts for the
        # requirements of a preference that prefers sockets (the default, the common fedora
        # and windows ones), spreads over sockets and cores, or takes any topology.
        ({"cpu": 2, "memory": "4Gi"}, None, None),
        ({"cpu": 2, "memory": "4Gi"}, "spread", None),
        ({"cpu": 2, "memory": "4Gi"}, "any", None),
        ({"cpu": 2, "memory": "1Gi"}, None, "2Gi of memory and gets 1Gi"),
        ({"instancetype": {"name": "u1.small"}}, None, None),  # 1 vCPU, 2Gi
        ({"instancetype": {"name": "u1.nano"}}, None, "2Gi of memory and gets 512Mi"),
    ],
)
def test_a_vm_below_its_preference_s_requirements_is_refused(
    make_view: Any, sizing: dict[str, Any], topology: str | None, unmet: str | None
) -> None:
    """KubeVirt's VM admission checks the preference's spec.requirements (1 vCPU and 2Gi for
    the common `fedora`) against the instancetype, or the VM's own cpu and memory."""
    plan = wukong("web", golden("centos-stream9"), preference={"name": "fedora"}, **sizing)
    objects = (preference("fedora", topology=topology), instancetype("u1.nano", 1, "512Mi"))
    found = check(make_view, plan, *objects, base=NAMED)
    if unmet is None:
        assert found == []
        return
    f = only(found, "preference.requirements-unmet")
    assert f.severity.value == "error" and unmet in f.message
    assert "KubeVirt refuses the VM" in f.message and f.line == plan.preference.line


@pytest.mark.parametrize(
    ("cpu", "topology", "unmet", "fix"),
    [
        # the common windows.11: 2 vCPU as sockets; 4 vCPU as 2 sockets of 2 cores pass
        ({"cpu": 4, "coresPerSocket": 2}, "sockets", None, None),
        ({"cpu": 4, "coresPerSocket": 4}, "sockets", "gets 1 vCPU as sockets", "coresPerSocket: 2"),
        ({"cpu": 2, "coresPerSocket": 2}, "sockets", "gets 1 vCPU as sockets", "remove coresPer"),
        ({"cpu": 1}, "sockets", "gets 1 vCPU as sockets", "set cpu: 2"),
        ({"cpu": 1}, "spread", "gets 1 vCPU as sockets x cores", "set cpu: 2"),
        # a preference that counts cores: sockets of one core offer one
        ({"cpu": 4}, "cores", "gets 1 vCPU as cores", "set coresPerSocket: 2"),
        ({"cpu": 4, "coresPerSocket": 2}, "preferCores", None, None),  # the deprecated name
        ({"cpu": 1}, "cores", "gets 1 vCPU as cores", "set cpu: 2 and coresPerSocket: 2"),
        ({"cpu": 4}, "threads", "gets 1 vCPU as threads", "size the VM with an instancetype"),
        # a topology KubeVirt does not know: checkCPU's switch has no default, no CPU is checked
        ({"cpu": 1}, "preferNUMA", None, None),
    ],
)
def test_the_requirements_message_names_the_topology_that_passes(
    make_view: Any,
    cpu: dict[str, Any],
    topology: str,
    unmet: str | None,
    fix: str | None,
) -> None:
    """KubeVirt counts a VM's vCPUs only in the topology the preference prefers; the finding
    says which change to the spec satisfies it."""
    plan = wukong("win", preference={"name": "windows.11"}, memory="4Gi", **cpu)
    objects = (preference("windows.11", topology=topology, vcpus=2),)
    found = check(make_view, plan, *objects, base=NAMED)
    if unmet is None:
        assert found == []
        return
    f = only(found, "preference.requirements-unmet")
    assert f"requires 2 vCPU and {unmet}" in f.message and fix in f.message


@pytest.mark.parametrize(
    ("fields", "shadowed"),
    [
        ({}, []),  # the preference's TPM and UEFI, persistent
        ({"tpm": True, "firmware": "efi-secure", "persistentState": True}, []),
        ({"tpm": True}, ["tpm"]),
        ({"firmware": "efi-secure"}, ["firmware"]),
        ({"firmware": "bios", "tpm": True}, ["tpm"]),  # BIOS is a choice, not a lost state
    ],
)
def test_a_spec_s_own_tpm_or_uefi_hiding_a_persistent_one_is_a_warning(
    make_view: Any, fields: dict[str, Any], shadowed: list[str]
) -> None:
    """KubeVirt's preferences fill only what a VM leaves unset: `tpm: true` beside the common
    windows.11 preference (a persistent TPM since common-instancetypes v1.1) loses the TPM's
    state, BitLocker's keys among them, at every restart."""
    doc = specs.wukong("win", cpu=2, memory="4Gi", preference={"name": "windows.11"}, **fields)
    text = specs.as_yaml(doc).splitlines()
    written = {f: next(n for n, line in enumerate(text, 1) if line.strip().startswith(f"{f}:"))
               for f in fields}  # fmt: skip
    plan = specs.plan_one(doc)  # loaded and planned from the YAML, lines and all
    found = check(make_view, plan, preference("windows.11", persistent=True), base=NAMED)
    assert [(f.code, f.line) for f in found] == [
        ("preference.shadowed", written[f]) for f in shadowed
    ]
    assert all(
        f.severity.value == "warning" and "lost at every restart" in f.message for f in found
    )
