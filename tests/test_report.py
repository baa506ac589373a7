"""Findings as text, JSON, GitHub Actions annotations (and summary), JUnit XML, Code Quality."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest

from tests.specs import plan_one, wukong
from wukong_core.findings import Finding
from wukong_core.report import (
    as_codequality,
    as_github,
    as_json,
    as_junit,
    as_markdown,
    as_text,
    formatter,
)

FINDINGS = [
    Finding("vm.empty", "VM vms/b starts without an operating system", "specs/b.yaml", 3, "vms/b"),
    Finding(
        "disk.size-required", "disk 'system' needs size (e.g. 20Gi)", "specs/a.yaml", 9, "vms/a"
    ),
    Finding("pvc.not-migratable", "PVC vms/d is ReadWriteOnce", "specs/a.yaml", 12, "vms/a"),
    Finding("cluster.unreachable", "failed to list pvcs: connection refused"),
]


def test_text_is_one_line_per_finding_sorted_by_place_then_a_summary() -> None:
    assert as_text(FINDINGS) == (
        "error cluster.unreachable: failed to list pvcs: connection refused\n"
        "specs/a.yaml:9: error disk.size-required: disk 'system' needs size (e.g. 20Gi)\n"
        "specs/a.yaml:12: warning pvc.not-migratable: PVC vms/d is ReadWriteOnce\n"
        "specs/b.yaml:3: info vm.empty: VM vms/b starts without an operating system\n"
        "2 error(s), 1 warning(s), 1 info\n"
    )


def test_text_of_no_findings_is_the_summary() -> None:
    assert as_text([]) == "0 error(s), 0 warning(s), 0 info\n"


def test_json_has_exactly_the_documented_shape() -> None:
    document = json.loads(as_json(FINDINGS[:2]))
    assert document == {
        "findings": [
            {
                "code": "disk.size-required",
                "severity": "error",
                "message": "disk 'system' needs size (e.g. 20Gi)",
                "file": "specs/a.yaml",
                "line": 9,
                "object": "vms/a",
            },
            {
                "code": "vm.empty",
                "severity": "info",
                "message": "VM vms/b starts without an operating system",
                "file": "specs/b.yaml",
                "line": 3,
                "object": "vms/b",
            },
        ],
        "summary": {"error": 1, "warning": 0, "info": 1},
    }
    assert json.loads(as_json([])) == {
        "findings": [],
        "summary": {"error": 0, "warning": 0, "info": 0},
    }


def test_json_is_stable_text() -> None:
    assert as_json(FINDINGS) == as_json(list(reversed(FINDINGS)))
    assert as_json(FINDINGS).endswith("}\n")


def test_github_annotations_point_at_the_spec_line() -> None:
    assert as_github(FINDINGS) == (
        "::error title=cluster.unreachable::failed to list pvcs: connection refused\n"
        "::error file=specs/a.yaml,line=9,title=disk.size-required::"
        "disk 'system' needs size (e.g. 20Gi)\n"
        "::warning file=specs/a.yaml,line=12,title=pvc.not-migratable::"
        "PVC vms/d is ReadWriteOnce\n"
        "::notice file=specs/b.yaml,line=3,title=vm.empty::"
        "VM vms/b starts without an operating system\n"
    )
    assert as_github([]) == ""


def test_github_escapes_percent_newlines_colons_and_commas() -> None:
    finding = Finding("spec.invalid", "50% done\r\nnext: a, b", "dir,x/a:b%.yaml", 4, "vms/x")
    assert as_github([finding]) == (
        "::error file=dir%2Cx/a%3Ab%25.yaml,line=4,title=spec.invalid::50%25 done%0D%0Anext: a, b\n"
    )


def test_junit_parses_and_errors_are_failures() -> None:
    text = as_junit(FINDINGS)
    assert text.startswith("<?xml")
    suites = ET.fromstring(text)
    assert suites.tag == "testsuites"
    [suite] = suites
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == ("wukong", "4", "2")
    cases = {case.get("classname"): case for case in suite}
    failure = cases["disk.size-required"].find("failure")
    assert failure is not None
    assert failure.get("type") == "disk.size-required"
    assert failure.get("message") == "disk 'system' needs size (e.g. 20Gi)"
    assert cases["disk.size-required"].get("name") == "specs/a.yaml:9 vms/a"
    assert cases["cluster.unreachable"].find("failure") is not None
    for passing in ("pvc.not-migratable", "vm.empty"):
        assert cases[passing].find("failure") is None
    assert cases["vm.empty"].findtext("system-out") == (
        "info: VM vms/b starts without an operating system"
    )


def test_junit_escapes_markup_in_messages() -> None:
    finding = Finding("spec.invalid", 'a <b> & "c"\nd', "x.yaml", 1)
    failure = ET.fromstring(as_junit([finding])).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'a <b> & "c"\nd'
    assert failure.text == 'a <b> & "c"\nd'


def test_junit_of_no_findings_is_an_empty_passing_suite() -> None:
    suite = ET.fromstring(as_junit([])).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), len(suite)) == ("0", "0", 0)


@pytest.mark.parametrize("name", ["text", "json", "github", "junit", "codequality"])
def test_each_format_is_found_by_name(name: str) -> None:
    assert formatter(name)(FINDINGS, [])


def test_an_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as caught:
        formatter("yaml")
    assert str(caught.value) == (
        "unknown format 'yaml'; choose one of text, json, github, junit, codequality"
    )


def test_junit_stays_well_formed_when_a_message_holds_control_characters() -> None:
    finding = Finding("spec.invalid", "spec.x\x01\x1b[31m: unknown field \ud800", "a\x00.yaml", 1)
    case = ET.fromstring(as_junit([finding])).find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == "a\\x00.yaml:1"
    assert case.findtext("failure") == "spec.x\\x01\\x1b[31m: unknown field \\ud800"


# -- JUnit with the run's VMs ------------------------------------------------------------

VMS = [plan_one(wukong("a", "vms")), plan_one(wukong("b", "vms")), plan_one(wukong("c", "vms"))]


def test_junit_has_a_case_per_vm_failing_with_its_errors() -> None:
    findings = [
        *FINDINGS,
        Finding("pvc.in-use", "PVC vms/d is used by vms/x", "specs/a.yaml", 14, "vms/a"),
    ]
    suite = ET.fromstring(as_junit(findings, VMS)).find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite}
    # three VMs, and the one finding about no VM (the unreachable cluster)
    assert sorted(cases) == ["cluster.unreachable", "vms/a", "vms/b", "vms/c"]
    assert (suite.get("tests"), suite.get("failures")) == ("4", "2")
    failure = cases["vms/a"].find("failure")
    assert failure is not None
    assert failure.get("message") == "2 errors: disk.size-required, pvc.in-use"
    assert failure.text == (
        "disk.size-required: disk 'system' needs size (e.g. 20Gi)\n"
        "pvc.in-use: PVC vms/d is used by vms/x"
    )
    assert cases["vms/a"].findtext("system-out") == "warning: PVC vms/d is ReadWriteOnce"
    assert cases["vms/b"].find("failure") is None
    assert cases["vms/b"].findtext("system-out") == (
        "info: VM vms/b starts without an operating system"
    )
    assert cases["vms/c"].find("failure") is None and cases["vms/c"].find("system-out") is None
    assert cases["vms/c"].get("file") == "vms/web.yaml"


def test_junit_of_a_clean_run_counts_its_vms() -> None:
    suite = ET.fromstring(as_junit([], VMS)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0")


# -- GitLab Code Quality -----------------------------------------------------------------


def test_codequality_has_gitlab_s_documented_fields() -> None:
    issues = json.loads(as_codequality(FINDINGS))
    assert [list(issue) for issue in issues] == [
        ["description", "check_name", "fingerprint", "severity", "location"]
    ] * 4
    assert [(i["check_name"], i["severity"], i["location"]) for i in issues] == [
        ("cluster.unreachable", "major", {"path": ".", "lines": {"begin": 1}}),
        ("disk.size-required", "major", {"path": "specs/a.yaml", "lines": {"begin": 9}}),
        ("pvc.not-migratable", "minor", {"path": "specs/a.yaml", "lines": {"begin": 12}}),
        ("vm.empty", "info", {"path": "specs/b.yaml", "lines": {"begin": 3}}),
    ]
    assert issues[1]["description"] == "disk 'system' needs size (e.g. 20Gi)"
    assert as_codequality([]) == "[]\n"


def test_codequality_fingerprints_are_unique_and_survive_a_line_shift() -> None:
    twice = [FINDINGS[1], FINDINGS[1]]
    first, second = (i["fingerprint"] for i in json.loads(as_codequality(twice)))
    assert first != second  # GitLab keeps one issue per fingerprint
    moved = Finding(FINDINGS[1].code, FINDINGS[1].message, "specs/a.yaml", 30, "vms/a")
    assert json.loads(as_codequality([moved]))[0]["fingerprint"] == first


# -- the Markdown step summary -----------------------------------------------------------


def test_markdown_summary_is_a_table_that_no_message_can_break() -> None:
    finding = Finding("spec.invalid", "a | b\n<script>x</script>", "specs/a|b.yaml", 2)
    assert as_markdown([finding], VMS) == (
        "### Wukong: failed\n\n"
        "3 VMs; 1 error(s), 0 warning(s), 0 info\n\n"
        "| severity | code | where | message |\n"
        "| --- | --- | --- | --- |\n"
        "| error | `spec.invalid` | `specs/a\\|b.yaml:2` | "
        "a \\| b &lt;script&gt;x&lt;/script&gt; |\n"
    )
    assert as_markdown([], VMS) == "### Wukong: passed\n\n3 VMs; 0 error(s), 0 warning(s), 0 info\n"
