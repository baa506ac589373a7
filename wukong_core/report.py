"""Findings -> text, JSON, GitHub Actions annotations or JUnit XML. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from xml.etree import ElementTree as ET

from .findings import Finding, Severity, summarize


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
    out = []
    for f in _sorted(findings):
        props = [f"title={_escape_property(f.code)}"]
        if f.file:
            props = [f"file={_escape_property(f.file)}", f"line={f.line}", *props]
        out.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::{_escape_data(f.message)}")
    return "".join(line + "\n" for line in out)


# Characters XML 1.0 forbids even as character references: a report holding one is unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: repr(m.group())[1:-1], text)


def as_junit(findings: Sequence[Finding]) -> str:
    """One test case per finding; errors fail, warnings and info pass with a note."""
    ordered = _sorted(findings)
    errors = sum(f.severity is Severity.ERROR for f in ordered)
    suite = ET.Element(
        "testsuite", name="wukong", tests=str(len(ordered)), failures=str(errors), errors="0"
    )
    for f in ordered:
        name, message = _xml_text(f"{f.file}:{f.line} {f.object}".strip()), _xml_text(f.message)
        case = ET.SubElement(suite, "testcase", classname=f.code, name=name)
        if f.severity is Severity.ERROR:
            ET.SubElement(case, "failure", type=f.code, message=message).text = message
        else:
            ET.SubElement(case, "system-out").text = f"{f.severity.value}: {message}"
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


FORMATS: dict[str, Callable[[Sequence[Finding]], str]] = {
    "text": as_text,
    "json": as_json,
    "github": as_github,
    "junit": as_junit,
}


def formatter(name: str) -> Callable[[Sequence[Finding]], str]:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}") from None
