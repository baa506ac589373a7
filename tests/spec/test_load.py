"""Loading specs from YAML: every error is a spec.invalid finding with the file and exact line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wukong_core.spec.load as load
import wukong_core.spec.nodes as nodes
from tests.specs import as_yaml, load_one, wukong
from wukong_core.findings import Finding
from wukong_core.spec.load import LoadedSpec, load_bytes, load_many, read_paths

HEAD = "apiVersion: vm.novasphere.dev/v1alpha1\nkind: Wukong\n"
# What a missing cpu or memory adds: the other way to size a VM.
SIZING = "; set cpu and memory, or size the VM by an instancetype (spec.instancetype.name)"


def problems(text: str | bytes, file: str = "vms/web.yaml") -> list[tuple[str, int, str]]:
    """(file, line, message) of each finding; every finding of the loader is spec.invalid."""
    specs, findings = load_bytes(text, file)
    assert specs == []
    assert {f.code for f in findings} == {"spec.invalid"}
    return [(f.file, f.line, f.message) for f in findings]


def only_problem(text: str | bytes) -> tuple[int, str]:
    [(file, line, message)] = problems(text)
    assert file == "vms/web.yaml"
    return line, message


# -- documents and files -----------------------------------------------------------------


def test_a_file_holds_many_specs_and_each_remembers_its_first_line() -> None:
    text = (
        "# web tier\n"  # 1
        + HEAD  # 2-3
        + "metadata: {name: web}\nspec: {cpu: 1, memory: 1Gi}\n"  # 4-5
        + "---\n"  # 6
        + HEAD  # 7-8
        + "metadata: {name: db}\nspec:\n  cpu: 1\n  memory: 1Gi\n  disks:\n"  # 9-13
        + "  - {name: system, size: 1Gi}\n"  # 14
    )
    specs, findings = load_bytes(text, "vms/all.yaml")
    assert findings == []
    assert [(s.spec.metadata.name, s.file, s.line) for s in specs] == [
        ("web", "vms/all.yaml", 2),
        ("db", "vms/all.yaml", 7),
    ]
    assert specs[1].disk_lines == (14,)


def test_the_line_of_each_disk_is_where_its_list_item_starts() -> None:
    spec = load_one(
        HEAD
        + "metadata: {name: web}\n"  # 3
        + "spec:\n  cpu: 1\n  memory: 1Gi\n  disks:\n"  # 4-7
        + "  - name: system\n    size: 1Gi\n"  # 8-9
        + "  - size: 2Gi\n    name: data\n"  # 10-11
        + "  - {name: iso, existingPVC: {name: iso}}\n"  # 12
    )
    assert spec.disk_lines == (8, 10, 12)


# Lines 1-7 of a spec; its first disk goes on line 8.
DISKS_FROM_LINE_8 = HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n  disks:\n"


def test_each_disk_field_has_its_own_line_for_findings_to_point_at() -> None:
    spec = load_one(
        DISKS_FROM_LINE_8
        + "  - name: iso\n"  # 8
        + "    device: cdrom\n"  # 9
        + "    bootOrder: 2\n"  # 10
        + "    existingPVC:\n"  # 11
        + "      name: isos\n"  # 12
        + "      readOnly: true\n"  # 13
        + "  - {name: data, size: 1Gi}\n"  # 14
    )
    assert spec.disk_fields[0] == {
        "name": 8,
        "device": 9,
        "bootOrder": 10,
        "existingPVC": 11,
        "existingPVC.name": 12,
        "existingPVC.readOnly": 13,
    }
    assert [spec.field_line(0, f) for f in ("bootOrder", "existingPVC.readOnly")] == [10, 13]
    assert spec.field_line(1, "size") == 14  # a disk written on one line
    assert spec.field_line(1, "bus") == 14  # a field not written: the disk's own line


OTHER_DOCUMENTS = [
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {kind: Wukong}\n",
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: Wukong}\n",
    "- kind: Wukong\n",  # a list, not an object
    "kind\n",  # a plain string
    "",  # an empty document
    "# only a comment\n",
]


@pytest.mark.parametrize("other", OTHER_DOCUMENTS)
def test_documents_of_other_kinds_are_skipped(other: str) -> None:
    text = other + "---\n" + as_yaml(wukong("web")) + "---\n" + other
    specs, findings = load_bytes(text, "mixed.yaml")
    assert findings == []
    assert [s.spec.metadata.name for s in specs] == ["web"]


@pytest.mark.parametrize(
    "text",
    [
        "{{ .Values.name }}: [\n",  # a Helm template is not YAML at all
        "key: 'unterminated\n",
        b"\xff\xfe\x00binary",
    ],
)
def test_a_file_that_never_mentions_wukong_is_not_parsed(text: str | bytes) -> None:
    assert load_bytes(text, "chart/templates/x.yaml") == ([], [])


def test_a_directory_is_searched_recursively_for_yaml_and_yml_files(tmp_path: Path) -> None:
    (tmp_path / "team-a" / "deep").mkdir(parents=True)
    (tmp_path / "team-a" / "deep" / "web.yaml").write_text(as_yaml(wukong("web")))
    (tmp_path / "team-a" / "db.yml").write_text(as_yaml(wukong("db")))
    (tmp_path / "cache.yaml").write_text(as_yaml(wukong("cache")))
    (tmp_path / "notes.json").write_text(as_yaml(wukong("json-is-not-searched")))
    (tmp_path / "README.md").write_text(as_yaml(wukong("markdown-is-not-searched")))
    (tmp_path / "folder.yaml").mkdir()  # a directory with a YAML-looking name
    files = list(read_paths([tmp_path]))
    names = [Path(name).relative_to(tmp_path).as_posix() for name, _ in files]
    assert names == ["cache.yaml", "team-a/db.yml", "team-a/deep/web.yaml"]
    specs, findings = load_many(files)
    assert findings == []
    assert [s.spec.metadata.name for s in specs] == ["cache", "db", "web"]


def test_a_named_file_is_read_whatever_its_suffix(tmp_path: Path) -> None:
    spec_file = tmp_path / "web.txt"
    spec_file.write_text(as_yaml(wukong("web")))
    assert [name for name, _ in read_paths([spec_file])] == [str(spec_file)]


def test_a_missing_path_is_an_os_error_for_the_caller(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read_paths([tmp_path / "nope"]))


# -- errors, each with its line ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "fix"),
    [
        (HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memroy: 1Gi\n", 6, '"memory"'),
        (HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n  runstrategy: Once\n", 7,
         '"runStrategy"'),
        (HEAD + "metadata:\n  name: web\n  namepsace: vms\nspec: {cpu: 1, memory: 1Gi}\n", 5,
         '"namespace"'),
        (HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n  disks:\n"
         "  - name: system\n    size: 1Gi\n    storageclass: fast\n", 10, '"storageClass"'),
        (HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n  disks:\n"
         "  - name: data\n    existingPVC:\n      name: p\n      readonly: true\n", 11,
         '"readOnly"'),
        (HEAD + "metadata: {name: web}\nspeck: {cpu: 1, memory: 1Gi}\n", 4, '"spec"'),
    ],
)  # fmt: skip
def test_a_typo_in_a_field_name_names_the_file_line_and_the_fix(
    text: str, line: int, fix: str
) -> None:
    found = problems(text)
    typo = [p for p in found if "unknown field" in p[2]]
    assert len(typo) == 1
    assert typo[0][:2] == ("vms/web.yaml", line)
    assert f"did you mean {fix}?" in typo[0][2]


def test_an_unknown_field_with_no_close_match_lists_the_known_fields() -> None:
    line, message = only_problem(HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n"
                                 "  gpus: 1\n")  # fmt: skip
    assert line == 7
    assert message == (
        "spec.gpus: unknown field; known fields: cloudInit, coresPerSocket, cpu, disks, firmware, "
        "instancetype, memory, networks, persistentState, preference, runStrategy, "
        "sshKeySecret, tpm"
    )


def test_running_is_refused_and_run_strategy_is_suggested() -> None:
    line, message = only_problem(
        HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n  running: true\n"
    )
    assert line == 7
    assert message == (
        "spec.running: unknown field; KubeVirt deprecated it: write runStrategy: Always "
        "(runStrategy: Halted for running: false)"
    )


def test_a_string_where_a_number_belongs_is_refused_at_its_line() -> None:
    line, message = only_problem(HEAD + 'metadata: {name: web}\nspec:\n  cpu: "2"\n  memory: 1Gi\n')
    assert (line, message) == (5, "spec.cpu: Input should be a valid integer (got '2')")


def test_a_bad_quantity_names_the_field_and_the_form() -> None:
    line, message = only_problem(
        HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n  disks:\n"
        "  - name: system\n    size: 20 GB\n"
    )
    assert line == 9
    assert message.startswith("spec.disks[0].size: '20 GB' is not a Kubernetes quantity")


def test_a_bad_name_says_what_a_kubernetes_name_is() -> None:
    line, message = only_problem(HEAD + "metadata:\n  name: Web_VM\nspec: {cpu: 1, memory: 1Gi}\n")
    assert line == 4
    assert message == (
        "metadata.name: 'Web_VM' is not a valid Kubernetes name: use lowercase letters, digits "
        "and '-', starting and ending with a letter or digit"
    )


def test_a_missing_field_points_at_its_parent() -> None:
    line, message = only_problem(HEAD + "metadata: {name: web}\nspec:\n  memory: 1Gi\n")
    assert (line, message) == (4, "spec.cpu: required field is missing" + SIZING)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("apiVersion: vm.novasphere.dev/v1\nkind: Wukong\nmetadata: {name: web}\n"
         "spec: {cpu: 1, memory: 1Gi}\n", 1, "apiVersion: Input should be "),
        ("apiVersion: vm.novasphere.dev/v1alpha1\nkind: WuKong\nmetadata: {name: web}\n"
         "spec: {cpu: 1, memory: 1Gi}\n", 2, "kind: Input should be 'Wukong'"),
    ],
)  # fmt: skip
def test_a_wrong_api_version_or_kind_of_a_wukong_is_refused(
    text: str, line: int, message: str
) -> None:
    [(_, found_line, found)] = problems(text)
    assert found_line == line
    assert found.startswith(message)


def test_the_finding_names_the_object_when_it_can() -> None:
    _, findings = load_bytes(HEAD + "metadata: {name: web, namespace: vms}\nspec: {cpu: 0}\n", "x")
    assert {f.object for f in findings} == {"vms/web"}


def test_an_error_in_the_second_document_counts_lines_from_the_top_of_the_file() -> None:
    text = as_yaml(wukong("web")) + "---\n" + HEAD + "metadata: {name: db}\nspec: {cpu: x}\n"
    specs, findings = load_bytes(text, "vms/all.yaml")
    assert [s.spec.metadata.name for s in specs] == ["web"]
    assert [(f.line, f.message) for f in findings if f.message.startswith("spec.cpu")] == [
        (13, "spec.cpu: Input should be a valid integer (got 'x')")
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HEAD + "metadata:\n  name: web\n   namespace: vms\n", 5),  # bad indentation
        (HEAD + "metadata: {name: web\nspec: {}\n", 4),  # unclosed flow mapping
        (HEAD + "metadata:\n  name: 'web\n", 5),  # unterminated quote (found at the end)
        (HEAD + "metadata:\n\tname: web\n", 4),  # a tab
    ],
)
def test_malformed_yaml_is_reported_at_the_line_of_the_problem(text: str, line: int) -> None:
    found_line, message = only_problem(text)
    assert found_line == line
    assert message.startswith("YAML syntax error: ")


def test_a_syntax_error_keeps_the_specs_before_it() -> None:
    text = as_yaml(wukong("web")) + "---\n" + HEAD + "metadata: [\n"
    specs, findings = load_bytes(text, "vms/all.yaml")
    assert [s.spec.metadata.name for s in specs] == ["web"]
    assert [f.code for f in findings] == ["spec.invalid"]


def test_a_duplicate_key_is_refused_at_the_second_one() -> None:
    text = HEAD + "metadata: {name: web}\nspec:\n  cpu: 1\n  memory: 1Gi\n  cpu: 2\n"
    assert only_problem(text) == (7, "duplicate key 'cpu': YAML keys must be unique")


@pytest.mark.parametrize(
    "data",
    [
        HEAD.encode() + b"metadata: {name: caf\xe9}\n",  # Latin-1
        HEAD.encode() + b"metadata: {name: \xff\xfe}\n",
        HEAD.encode() + b"metadata: {name: \xc3}\n",  # a truncated UTF-8 sequence
    ],
)
def test_bytes_that_are_not_utf8_are_refused_on_line_1(data: bytes) -> None:
    line, message = only_problem(data)
    assert line == 1
    assert message.startswith("not UTF-8 text (byte ")
    assert message.endswith("save the file as UTF-8")


def test_the_pure_python_loader_refuses_non_utf8_as_a_finding_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load, "Loader", yaml.SafeLoader)
    assert only_problem(HEAD.encode() + b"metadata: {name: caf\xe9}\n")[0] == 1


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    bomb = HEAD + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for level in "bcdefghi":  # 9**9 = 387 million strings once expanded
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [{','.join([f'*{previous}'] * 9)}]\n"
    bomb += "metadata: {name: web}\nspec: {cpu: 1, memory: 1Gi, disks: *i}\n"
    line, message = only_problem(bomb)
    assert f"more than {nodes.MAX_NODES} values" in message
    assert 3 <= line <= 13


def test_a_document_of_too_many_plain_strings_is_refused_too() -> None:
    pairs = ", ".join(f"k{i}: v" for i in range(nodes.MAX_NODES // 2 + 1))
    text = HEAD + "metadata: {name: web}\nspec: {cpu: 1}\nx: {" + pairs + "}\n"
    line, message = only_problem(text)
    assert f"more than {nodes.MAX_NODES} values" in message and line == 5


def test_strings_nested_too_deep_are_refused_like_lists() -> None:
    depth = nodes.MAX_DEPTH
    text = HEAD + "metadata: {name: web}\nspec: {cpu: 1}\nx: " + "{a: " * depth + "s" + "}" * depth
    [(_, line, message)] = problems(text + "\n")
    assert "nest" in message and line == 5


@pytest.mark.parametrize("depth", [nodes.MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused(depth: int) -> None:
    text = HEAD + "metadata: {name: web}\nspec: {cpu: 1, memory: 1Gi}\nx: " + "[" * depth
    text += "]" * depth + "\n"
    [(_, line, message)] = problems(text)
    assert line == 5
    assert "nest" in message


@pytest.mark.parametrize(
    "document",
    ["metadata: &m {name: web, x: *m}\n", "metadata: &m\n  <<: *m\n  name: web\n"],
)
def test_a_recursive_alias_is_refused(document: str) -> None:
    assert problems(HEAD + document + "spec: {cpu: 1, memory: 1Gi}\n")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int abc", "'abc' is not a valid YAML int"),
        ("!!float x", "'x' is not a valid YAML float"),
        ("!!bool maybe", "'maybe' is not a valid YAML bool"),
        ("9" * 5000, "is not a valid YAML int"),
        ("!python/object:os.system ls", "unsupported YAML tag"),
    ],
)
def test_a_value_yaml_cannot_build_is_a_finding(value: str, message: str) -> None:
    line, found = only_problem(HEAD + f"metadata: {{name: web}}\nspec:\n  cpu: {value}\n")
    assert line == 5
    assert message in found


def test_merge_keys_work_and_the_document_own_keys_win() -> None:
    spec = load_one(
        HEAD
        + "metadata: {name: web}\n"
        + "spec:\n"
        + "  <<: &small {cpu: 1, memory: 1Gi, runStrategy: Halted}\n"
        + "  cpu: 2\n"  # overrides the merged cpu: not a duplicate key
        + "  disks:\n"
        + "  - &disk {name: system, size: 20Gi, image: 'docker://quay.io/x:1', bus: sata}\n"
        + "  - <<: [{name: never, size: 1Gi}, *disk]\n"  # the earlier source wins
        + "    name: data\n"
    ).spec
    assert (spec.spec.cpu, spec.spec.memory, spec.spec.runStrategy) == (2, "1Gi", "Halted")
    assert [(d.name, d.size, d.bus) for d in spec.spec.disks] == [
        ("system", "20Gi", "sata"),
        ("data", "1Gi", "sata"),
    ]


def test_an_error_in_merged_defaults_is_reported_where_it_is_written() -> None:
    text = HEAD + "metadata: {name: web}\nspec:\n  <<: &d\n    cpu: 1\n    memroy: 1Gi\n"
    assert problems(text) == [
        ("vms/web.yaml", 4, "spec.memory: required field is missing" + SIZING),
        ("vms/web.yaml", 7, 'spec.memroy: unknown field; did you mean "memory"?'),
    ]


def test_a_merge_of_a_non_mapping_is_refused() -> None:
    line, message = only_problem(HEAD + "metadata: {name: web}\nspec:\n  <<: [1, 2]\n")
    assert line == 5
    assert "merge key" in message


def test_disks_merged_in_keep_the_lines_where_they_are_written() -> None:
    spec = load_one(
        HEAD
        + "metadata: {name: web}\n"  # 3
        + "spec:\n"  # 4
        + "  <<:\n"  # 5
        + "    disks:\n"  # 6
        + "    - {name: system, size: 1Gi}\n"  # 7
        + "    - {name: data, size: 1Gi}\n"  # 8
        + "  cpu: 1\n  memory: 1Gi\n"
    )
    assert spec.disk_lines == (7, 8)


def test_a_merged_disk_field_is_found_where_it_is_written_and_own_fields_win() -> None:
    spec = load_one(
        DISKS_FROM_LINE_8
        + "  - &iso\n"  # 8
        + "    name: iso\n"  # 9
        + "    device: cdrom\n"  # 10
        + "    existingPVC: {name: isos}\n"  # 11
        + "  - <<: *iso\n"  # 12
        + "    name: other\n"  # 13
    )
    assert spec.field_line(1, "name") == 13
    assert spec.field_line(1, "device") == 10
    assert spec.field_line(1, "existingPVC.name") == 11


def test_yaml_timestamps_stay_strings_as_kubernetes_reads_them() -> None:
    spec = load_one(
        HEAD + "metadata:\n  name: web\n  labels: {restored: 2026-11-01}\n"
        "spec: {cpu: 1, memory: 1Gi}\n"
    ).spec
    assert spec.metadata.labels == {"restored": "2026-11-01"}


# -- never a crash -----------------------------------------------------------------------

VALID = as_yaml(
    wukong(
        "web",
        disks=[
            {"name": "system", "size": "20Gi", "image": "docker://quay.io/x:1", "boot": True},
            {"name": "data", "existingPVC": {"name": "data", "namespace": "b", "readOnly": True}},
        ],
        runStrategy="Manual",
    )
)
SCALARS = [
    "1", "0", "-1", "1.5", "1Gi", "1E", "1Ei", "1e999999999", "9" * 4400, "true", "null", "~",
    "web", "Web_1", "''", "docker://x", "2026-11-01", "!!int x", "!!float x", "!!bool x",
    "!!binary x", "!!timestamp x", "!!str 1", "!local x", "*a",
]  # fmt: skip
KEYS = [
    "metadata", "spec", "name", "namespace", "cpu", "memory", "runStrategy", "disks", "size",
    "image", "boot", "existingPVC", "readOnly", "clone", "labels", "<<", "1", "null", "x",
]  # fmt: skip
FLOW = st.recursive(
    st.sampled_from(SCALARS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: f"[{', '.join(items)}]"),
        st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=5).map(
            lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        ),
    ),
    max_leaves=12,
)
YAMLISH = st.tuples(FLOW, FLOW).map(lambda nodes: f"metadata: &a {nodes[0]}\nspec: {nodes[1]}\n")


def _returns_findings(data: str | bytes) -> None:
    specs, findings = load_bytes(data, "fuzz.yaml")
    assert all(isinstance(s, LoadedSpec) for s in specs)
    assert all(isinstance(f, Finding) and f.code == "spec.invalid" for f in findings)
    assert all(f.line >= 1 and f.file == "fuzz.yaml" for f in findings)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    _returns_findings(HEAD.encode() + data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_random_yamlish_documents_never_raise(text: str) -> None:
    _returns_findings(HEAD + text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(VALID)),
            st.integers(min_value=0, max_value=8),
            st.text(alphabet=st.sampled_from(list(":-[]{}&*!'\"# \n0aZ.<")), max_size=6),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_mutations_of_a_valid_spec_never_raise(edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    _returns_findings(text)


def test_an_unknown_field_with_control_characters_is_named_escaped() -> None:
    text = HEAD + 'metadata: {name: web}\nspec: {cpu: 1, memory: 1Gi, "x\\e[31m\\x01": 1}\n'
    line, message = only_problem(text)
    assert line == 4
    assert message.startswith(r"spec.'x\x1b[31m\x01': unknown field")


def test_a_quantity_of_the_wrong_type_is_one_finding_that_says_what_it_takes() -> None:
    line, message = only_problem(as_yaml(wukong(memory=True)))
    assert line == 8
    assert message == "spec.memory: must be a quantity like 4Gi or a whole number (got True)"


def test_a_spec_saved_as_utf16_with_a_byte_order_mark_is_read() -> None:
    specs, findings = load_bytes(as_yaml(wukong("web")).encode("utf-16"), "web.yaml")
    assert findings == []
    assert [s.spec.metadata.name for s in specs] == ["web"]
