"""Findings -> text, JSON, GitHub Actions annotations (and a Markdown summary), JUnit XML or
GitLab Code Quality JSON. Pure.

JUnit takes the run's VMs too: one test case per VM, so a clean run reads "N tests, 0 failures"
rather than "0 tests".
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from xml.etree import ElementTree as ET

from wukong_core.findings import Finding, Severity, summarize
from wukong_core.plan import VmPlan


def _sorted(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=Finding.sort_key)


def text_line(f: Finding) -> str:
    """`file:line: severity code: message`, the form of a compiler's diagnostics."""
    where = f"{f.file}:{f.line}: " if f.file else ""
    return f"{where}{f.severity.value} {f.code}: {f.message}"


def as_text(findings: Sequence[Finding]) -> str:
    lines = [text_line(f) for f in _sorted(findings)]
    counts = summarize(findings)
    lines.append(
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
    )
    return "\n".join(lines) + "\n"


def as_dict(findings: Sequence[Finding]) -> dict[str, object]:
    return {
        "findings": [f.as_dict() for f in _sorted(findings)],
        "summary": summarize(findings),
    }


def as_json(findings: Sequence[Finding]) -> str:
    return json.dumps(as_dict(findings), indent=2, sort_keys=True) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def as_github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands; they annotate the spec line in the pull request."""
    return "".join(
        annotation(_GITHUB_LEVEL[f.severity], f.message, f.code, f.file, f.line)
        for f in _sorted(findings)
    )


def annotation(level: str, message: str, title: str, file: str = "", line: int = 0) -> str:
    """One GitHub Actions workflow command (`::error file=…,line=…,title=…::message`)."""
    props = [f"title={_escape_property(title)}"]
    if file:
        where = [f"file={_escape_property(file)}"] + ([f"line={line}"] if line else [])
        props = where + props
    return f"::{level} {','.join(props)}::{_escape_data(message)}\n"


# Characters XML 1.0 forbids even as character references: a report holding one is unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: repr(m.group())[1:-1], text)


def as_junit(findings: Sequence[Finding], vms: Sequence[VmPlan] = ()) -> str:
    """One test case per VM, failing with its error findings, and one per finding that names
    no VM of the run (a spec that did not parse, an unreachable cluster). Errors fail; warnings
    and info pass with a note."""
    ordered = _sorted(findings)
    keys = {vm.key for vm in vms}
    suite = ET.Element("testsuite", name="wukong")
    for vm in sorted(vms, key=lambda vm: (vm.file, vm.line, vm.key)):
        case = ET.SubElement(suite, "testcase", classname="vm", name=vm.key)
        case.attrib |= {"file": _xml_text(vm.file), "line": str(vm.line)}
        _outcome(case, [f for f in ordered if f.object == vm.key])
    for f in ordered:
        if f.object not in keys:
            where = f"{f.file}:{f.line}" if f.file else ""
            name = _xml_text(f"{where} {f.object}".strip() or f.code)
            _outcome(ET.SubElement(suite, "testcase", classname=f.code, name=name), [f])
    failures = sum(case.find("failure") is not None for case in suite)
    suite.attrib |= {"tests": str(len(suite)), "failures": str(failures), "errors": "0"}
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _outcome(case: ET.Element, findings: list[Finding]) -> None:
    """A failure holding the errors; warnings and info as the case's output."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if len(errors) == 1:
        message = _xml_text(errors[0].message)
        ET.SubElement(case, "failure", type=errors[0].code, message=message).text = message
    elif errors:
        text = _xml_text("\n".join(f"{f.code}: {f.message}" for f in errors))
        summary = f"{len(errors)} errors: {', '.join(sorted({f.code for f in errors}))}"
        ET.SubElement(case, "failure", type="wukong", message=summary).text = text
    notes = [f"{f.severity.value}: {_xml_text(f.message)}" for f in findings if f not in errors]
    if notes:
        ET.SubElement(case, "system-out").text = "\n".join(notes)


# GitLab Code Quality (docs.gitlab.com "Code Quality report format"): severity is one of info,
# minor, major, critical, blocker. Errors stop commits and syncs, so they rank as major.
_CODE_QUALITY_SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}


def as_codequality(findings: Sequence[Finding]) -> str:
    """A GitLab Code Quality report: the merge request widget lists each finding at its line.

    The fingerprint identifies a finding across pipelines, so it leaves out the line (an edit
    above it must not turn it into "fixed" plus "new"); GitLab keeps only the first issue of a
    fingerprint, so identical findings are told apart by their order. A finding about no file
    (an unreachable cluster) points at the repository (".").
    """
    issues = []
    seen: Counter[str] = Counter()
    for f in _sorted(findings):
        identity = "\0".join((f.code, f.file, f.object, f.message))
        seen[identity] += 1
        occurrence = f"\0{seen[identity]}" if seen[identity] > 1 else ""
        issues.append(
            {
                "description": f.message,
                "check_name": f.code,
                "fingerprint": hashlib.sha256((identity + occurrence).encode()).hexdigest(),
                "severity": _CODE_QUALITY_SEVERITY[f.severity],
                "location": {"path": f.file or ".", "lines": {"begin": max(f.line, 1)}},
            }
        )
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    """Text for one cell of a Markdown table: no markup, no line breaks, no column breaks."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def as_markdown(findings: Sequence[Finding], vms: Sequence[VmPlan] = ()) -> str:
    """The job summary GitHub shows on the run's page ($GITHUB_STEP_SUMMARY)."""
    counts = summarize(findings)
    verdict = "failed" if counts["error"] else "passed"
    lines = [
        f"### Wukong: {verdict}",
        "",
        f"{len(vms)} VMs; {counts['error']} error(s), {counts['warning']} warning(s), "
        f"{counts['info']} info",
    ]
    if findings:
        lines += ["", "| severity | code | where | message |", "| --- | --- | --- | --- |"]
        for f in _sorted(findings):
            where = f"`{_cell(f.file)}:{f.line}`" if f.file else ""
            lines.append(f"| {f.severity.value} | `{f.code}` | {where} | {_cell(f.message)} |")
    return "\n".join(lines) + "\n"


Formatter = Callable[[Sequence[Finding], Sequence[VmPlan]], str]
FORMATS: dict[str, Formatter] = {
    "text": lambda findings, vms: as_text(findings),
    "json": lambda findings, vms: as_json(findings),
    "github": lambda findings, vms: as_github(findings),
    "junit": as_junit,
    "codequality": lambda findings, vms: as_codequality(findings),
}


def formatter(name: str) -> Formatter:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}") from None
