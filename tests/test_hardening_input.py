"""Hostile input: the loader, the webhook parser and the HTTP endpoints never crash.

Property-based (hypothesis), about 10,500 generated specs, payloads and headers per run:

    loader      load.load_bytes            random bytes, mutated specs, random YAML trees
    webhooks    webhooks.parse_delivery    random headers and bodies; signed bodies of any shape
    HTTP        functions-framework app    /render, /validate, /webhook, any path and method

Properties: nothing raises but the documented errors; no 5xx; every HTTP answer that is not a
rendered YAML stream is JSON, and every 4xx names the problem (`error`, or findings that carry
file:line inside the document). `WUKONG_FUZZ_SCALE=10` multiplies every budget for a long run.

Then the explicit cases: alias bombs (bounded memory, measured), 10,000 levels of nesting,
megabyte scalars, bytes that are not UTF-8, names that try to leave the output folder (CLI
render and Git commit-back), duplicate keys, bodies over the limit, wrong content types, and
JSON bodies of every wrong shape.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, ROOT
from tests.hardening import ENV, SECRET, deliver, make_app, new_repo, webhook_env
from wukong_core.errors import WebhookError
from wukong_core.git.webhooks import IgnoredEvent, PingEvent, PushEvent, parse_delivery
from wukong_core.spec.load import load_bytes

pytest_plugins = ["tests.gitserver"]

SCALE = float(os.environ.get("WUKONG_FUZZ_SCALE", "1"))
SPEC = (EXAMPLES / "specs" / "hybrid-vm.yaml").read_bytes()
HEAD = b"apiVersion: vm.novasphere.dev/v1alpha1\nkind: Wukong\n"
NAMED = HEAD + b"metadata: {name: vm, namespace: vms}\n"


def budget(n: int) -> Any:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )


def _lines(data: bytes | str) -> int:
    """An upper bound of the lines YAML counts (it also breaks lines at \x85, \u2028...)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return len(text.splitlines()) + 1


def _check_findings(findings: list[Any], file: str, data: bytes | str) -> None:
    for f in findings:
        assert f.code == "spec.invalid" and f.severity == "error"
        assert f.file == file and f.message
        assert 1 <= f.line <= _lines(data), (f.line, f.message)


# --- the loader: about 4,500 documents ----------------------------------------------------------


@budget(1500)
@given(st.binary(max_size=400))
def test_loader_any_bytes_after_a_wukong_header(tail: bytes) -> None:
    data = NAMED + tail
    specs, findings = load_bytes(data, "fuzz.yaml")
    _check_findings(findings, "fuzz.yaml", data)
    assert specs or findings


_YAMLISH = st.sampled_from(
    [
        *":-[]{},&*!|>'\"%@`#?\n\t ",
        "<<",
        "---",
        "...",
        "\\",
        "\x00",
        "\ufeff",
        "\udcff",
        "é",
        "~",
        "null",
        "1e9999",
        "0x",
        "!!binary",
    ]
)


@budget(2000)
@given(st.lists(st.tuples(st.integers(0, len(SPEC)), st.integers(0, 8), _YAMLISH), max_size=8))
def test_loader_mutated_valid_specs(edits: list[tuple[int, int, str]]) -> None:
    text = SPEC.decode()
    for at, cut, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut :]
    data: bytes | str = text.encode("utf-8", "surrogateescape") if "\udcff" in text else text
    _, findings = load_bytes(data, "mutated.yaml")
    _check_findings(findings, "mutated.yaml", data)


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["1Gi", "docker://x", "system", "Always", "-1", ""]),
)
_tree = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "name",
                        "size",
                        "image",
                        "disks",
                        "existingPVC",
                        "boot",
                        "cpu",
                        "memory",
                        "namespace",
                        "labels",
                    ]
                ),
                st.text(max_size=10),
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


@budget(1000)
@given(metadata=_tree, spec=_tree)
def test_loader_random_structures_in_every_field(metadata: Any, spec: Any) -> None:
    doc = {"apiVersion": "vm.novasphere.dev/v1alpha1", "kind": "Wukong", "metadata": metadata}
    doc["spec"] = spec
    data = yaml.safe_dump(doc, allow_unicode=True)
    specs, findings = load_bytes(data, "tree.yaml")
    _check_findings(findings, "tree.yaml", data)
    assert bool(specs) != bool(findings)


# --- the webhook parser: about 3,000 deliveries -------------------------------------------------

_HEADER_NAMES = [
    "X-GitHub-Event",
    "X-GitHub-Delivery",
    "X-Hub-Signature-256",
    "X-Gitlab-Event",
    "X-Gitlab-Token",
    "Idempotency-Key",
    "X-Gitea-Event",
    "X-Gitea-Signature",
    "X-Gitea-Delivery",
    "X-Forgejo-Event",
    "X-Forgejo-Signature",
    "Content-Type",
]
_header_values = st.one_of(
    st.sampled_from(["push", "ping", "Push Hook", "issues", "", " ", "sha256=", SECRET]),
    st.text(max_size=80),
)
_headers = st.dictionaries(
    st.one_of(st.sampled_from(_HEADER_NAMES), st.text(max_size=20)), _header_values, max_size=8
)
_json_values = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=15,
)


def _accepts(headers: dict[str, str], body: bytes, secret: str | None) -> None:
    try:
        event = parse_delivery(headers, body, secret)
    except WebhookError as e:
        assert e.status in (400, 401) and str(e)
        return
    assert isinstance(event, PushEvent | PingEvent | IgnoredEvent)
    if isinstance(event, PushEvent):
        assert event.repo_url.lower().startswith(("http://", "https://"))
        assert event.branch and event.after and event.before


@budget(1500)
@given(
    _headers,
    st.one_of(st.binary(max_size=300), _json_values.map(lambda v: json.dumps(v).encode())),
    st.sampled_from([SECRET, "", None]),
)
def test_parser_any_headers_and_body(headers: dict[str, str], body: bytes, secret: Any) -> None:
    _accepts(headers, body, secret)


def _push_shapes() -> Any:
    sha = st.sampled_from(["a" * 40, "0" * 40, "A" * 40, "a" * 64, "abc", ""])
    field = st.one_of(_json_values, st.text(max_size=40))
    repo = st.fixed_dictionaries(
        {},
        optional={
            "clone_url": st.one_of(
                field,
                st.sampled_from(["https://h/r.git", "ftp://x", "http://[::1", "https://h/../r"]),
            ),
            "full_name": field,
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "ref": st.one_of(
                field,
                st.sampled_from(
                    ["refs/heads/main", "refs/tags/v1", "refs/heads/", "refs/heads/a b"]
                ),
            ),
            "before": st.one_of(sha, field),
            "after": st.one_of(sha, field),
            "repository": st.one_of(repo, field),
            "project": st.one_of(repo, field),
            "commits": st.one_of(st.lists(_json_values, max_size=3), field),
            "head_commit": st.one_of(_json_values, field),
            "deleted": field,
            "total_commits_count": field,
        },
    )


@budget(1500)
@given(
    _push_shapes(),
    st.sampled_from(["github", "gitlab", "gitea", "forgejo"]),
    st.sampled_from(["push", "ping", "Push Hook", "release"]),
)
def test_parser_signed_payloads_of_any_shape(payload: Any, provider: str, event: str) -> None:
    body = json.dumps(payload).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "github": {"X-GitHub-Event": event, "X-Hub-Signature-256": "sha256=" + digest},
        "gitlab": {"X-Gitlab-Event": event, "X-Gitlab-Token": SECRET},
        "gitea": {"X-Gitea-Event": event, "X-Gitea-Signature": digest},
        "forgejo": {"X-Forgejo-Event": event, "X-Forgejo-Signature": digest},
    }[provider]
    _accepts(headers, body, SECRET)


# --- the HTTP function: about 3,000 requests ----------------------------------------------------


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def client(app, monkeypatch):  # type: ignore[no-untyped-def]
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WUKONG_WEBHOOK_SECRET", SECRET)  # no WUKONG_ALLOWED_REPOS: no clone
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", "65536")
    return app.test_client()


def _assert_answer(response: Any) -> None:
    """No 5xx; JSON unless a rendered YAML stream; a 4xx names its problem."""
    assert response.status_code < 500, response.data[:300]
    if response.status_code == 200 and response.mimetype == "application/yaml":
        yaml.safe_load_all(response.data)  # a stream kubectl can read
        return
    assert response.mimetype == "application/json", response.data[:200]
    body = json.loads(response.data)
    if response.status_code == 422:
        assert body["error"] and body["findings"]
        for f in body["findings"]:
            assert f["code"] and f["message"] and f["file"] and f["line"] >= 1
    elif response.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"].strip()


_CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            "application/yaml",
            "application/json",
            "text/plain",
            "",
            "text/html",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "application/vnd.api+json",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
)
_bodies = st.one_of(
    st.binary(max_size=300),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(st.tuples(st.integers(0, len(SPEC)), st.integers(0, 5), _YAMLISH), max_size=5).map(
        lambda edits: _mutate(SPEC, edits)
    ),
    _tree.map(
        lambda t: json.dumps(
            {
                "apiVersion": "vm.novasphere.dev/v1alpha1",
                "kind": "Wukong",
                "metadata": {"name": "x"},
                "spec": t,
            },
            default=str,
        ).encode()
    ),
)


def _mutate(data: bytes, edits: list[tuple[int, int, str]]) -> bytes:
    for at, cut, insert in edits:
        data = data[:at] + insert.encode("utf-8", "surrogateescape") + data[at + cut :]
    return data


@budget(1500)
@given(
    st.sampled_from(["/render", "/validate"]),
    _CONTENT_TYPES,
    _bodies,
    st.one_of(st.none(), st.text(max_size=70)),
    st.sampled_from(["*/*", "application/json"]),
)
def test_http_ci_endpoints_any_body(client, path, content_type, body, namespace, accept) -> None:  # type: ignore[no-untyped-def]
    query = {} if namespace is None else {"namespace": namespace}
    headers = {"Content-Type": content_type, "Accept": accept}
    _assert_answer(client.post(path, data=body, headers=headers, query_string=query))


@budget(1000)
@given(_headers, _bodies, st.booleans())
def test_http_webhook_any_delivery(client, headers, body, sign) -> None:  # type: ignore[no-untyped-def]
    headers = {k: v for k, v in headers.items() if "\n" not in k + v and "\r" not in k + v}
    if sign:
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers |= {
            "X-GitHub-Event": headers.get("X-GitHub-Event") or "push",
            "X-Hub-Signature-256": "sha256=" + digest,
        }
    try:
        response = client.post("/webhook", data=body, headers=headers)
    except ValueError:  # werkzeug refuses to build some header values; no request was sent
        return
    _assert_answer(response)
    assert response.status_code in (200, 202, 400, 401, 403), response.get_json()


@budget(500)
@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    st.text(max_size=40).map(lambda p: "/" + p.lstrip("/")),
)
def test_http_any_method_and_path(client, method, path) -> None:  # type: ignore[no-untyped-def]
    try:
        response = client.open(path, method=method, data=b"x")
    except ValueError:  # werkzeug cannot build this URL at all
        return
    if method == "HEAD":
        assert response.status_code < 500
        return
    _assert_answer(response)


# --- explicit hostile documents -----------------------------------------------------------------


def _alias_bomb(levels: int = 12) -> bytes:
    lines = [b"a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]".encode() for i in range(1, levels)]
    return NAMED + b"spec:\n  bomb:\n" + b"\n".join(b"    " + line for line in lines) + b"\n"


def _peak_mib(call: Any) -> tuple[Any, float]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_an_alias_bomb_is_refused_in_bounded_memory(client) -> None:  # type: ignore[no-untyped-def]
    bomb = _alias_bomb()  # 10^12 values if expanded
    (specs, findings), peak = _peak_mib(lambda: load_bytes(bomb, "bomb.yaml"))
    assert not specs and [f.line for f in findings] and "alias bomb" in findings[0].message
    assert findings[0].line >= 4  # where the expansion starts, not line 1
    assert peak < 16, f"{peak:.1f} MiB"
    response, peak = _peak_mib(lambda: client.post("/validate", data=bomb))
    assert response.status_code == 422 and "alias bomb" in response.get_data(as_text=True)
    assert peak < 32, f"{peak:.1f} MiB"


@pytest.mark.parametrize("opening", ["[", "{"])
def test_ten_thousand_levels_of_nesting_are_refused(client, monkeypatch, opening) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", str(2**20))
    deep = (opening + ('"k": ' if opening == "{" else "")) * 10_000
    deep += "1" + ("]" if opening == "[" else "}") * 10_000
    yaml_doc = NAMED + b"spec: " + deep.encode() + b"\n"
    (specs, findings), peak = _peak_mib(lambda: load_bytes(yaml_doc, "deep.yaml"))
    assert not specs and findings and "nest" in findings[0].message and findings[0].line == 4
    assert peak < 32
    response = client.post("/render", data=yaml_doc, content_type="application/yaml")
    assert response.status_code == 422
    json_doc = b'{"apiVersion": "vm.novasphere.dev/v1alpha1", "spec": ' + deep.encode() + b"}"
    response = client.post("/render", data=json_doc, content_type="application/json")
    assert response.status_code == 400 and "not JSON" in response.get_json()["error"]
    body = json.dumps({"zen": "x"}).encode()[:-1] + b', "deep": ' + deep.encode() + b"}"
    for event in ("ping", "push"):
        response = client.post("/webhook", data=body, headers=_sign(body, event))
        assert response.status_code == 400 and "not JSON" in response.get_json()["error"]


def _sign(body: bytes, event: str = "push") -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": "sha256=" + digest,
        "X-GitHub-Delivery": "d-1",
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("where", ["name", "memory", "image", "label-key", "comment"])
def test_megabyte_scalars_are_findings(client, monkeypatch, where) -> None:  # type: ignore[no-untyped-def]
    huge = "a" * (3 * 2**20)
    doc = {
        "name": f"{HEAD.decode()}metadata: {{name: {huge}}}\nspec: {{cpu: 1, memory: 1Gi}}\n",
        "memory": f"{NAMED.decode()}spec: {{cpu: 1, memory: {huge}}}\n",
        "image": f"{NAMED.decode()}spec: {{cpu: 1, memory: 1Gi, disks: [{{name: system, "
        f"size: 1Gi, image: 'docker://{huge}'}}]}}\n",
        "label-key": f"{HEAD.decode()}metadata: {{name: x, labels: {{{huge}: v}}}}\n"
        "spec: {cpu: 1, memory: 1Gi}\n",
        "comment": f"{NAMED.decode()}# {huge}\nspec: {{cpu: 1, memory: 1Gi, bogus: 1}}\n",
    }[where].encode()
    _, findings = load_bytes(doc, "huge.yaml")
    _check_findings(findings, "huge.yaml", doc)
    assert findings  # an image URL is bounded too: no registry takes 3 MiB
    assert all(len(f.message) < 2000 for f in findings), "a finding must not echo megabytes"
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", str(8 * 2**20))
    response = client.post("/validate", data=doc)
    assert response.status_code == 422 and len(response.data) < 20_000


@pytest.mark.parametrize(
    "data",
    [
        NAMED + b"spec: {cpu: 1, memory: \xff\xfe}\n",
        b"\x80" + NAMED,
        NAMED + b"\x80" * 10,
        NAMED.replace(b"vm,", b"v\xc3\x28,"),
    ],
)
def test_bytes_that_are_not_utf8(client, data) -> None:  # type: ignore[no-untyped-def]
    specs, findings = load_bytes(data, "bin.yaml")
    assert not specs and findings and "UTF-8" in findings[0].message
    response = client.post("/validate", data=data)
    assert response.status_code in (400, 422) and response.get_json()["error"]
    response = client.post("/validate", data=data, content_type="application/json")
    assert response.status_code == 400 and "UTF-8" in response.get_json()["error"]


def test_a_duplicate_key_is_refused_at_its_line() -> None:
    data = NAMED + b"spec:\n  cpu: 1\n  memory: 1Gi\n  cpu: 64\n"
    specs, findings = load_bytes(data, "dup.yaml")
    assert not specs and [(f.line, "duplicate key 'cpu'" in f.message) for f in findings] == [
        (7, True)
    ]


@pytest.mark.parametrize("path", ["/render", "/validate", "/webhook"])
def test_bodies_over_the_limit_are_413_json(client, monkeypatch, path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WUKONG_MAX_BODY_BYTES", "1024")
    body = SPEC + b"#" * 2048
    response = client.post(path, data=body, headers=_sign(body))
    assert response.status_code == 413 and response.get_json()["limit"] == 1024

    response = client.post(
        path,
        input_stream=io.BytesIO(body),  # no Content-Length: the capped read must catch it
        headers=_sign(body) | {"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what gunicorn sets for chunked
    )
    assert response.status_code == 413 and "limit" in response.get_json()["error"]


@pytest.mark.parametrize(
    "content_type", ["image/png", "multipart/form-data; boundary=x", "text/html", "application/xml"]
)
def test_wrong_content_types_are_415_json(client, content_type) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/render", data=SPEC, content_type=content_type)
    assert response.status_code == 415 and "Content-Type" in response.get_json()["error"]


def test_a_form_encoded_webhook_is_read_and_a_broken_form_says_to_send_json(client) -> None:  # type: ignore[no-untyped-def]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b"payload=%7B%22zen%22%3A+%22x%22%7D"  # GitHub's default content type
    response = client.post("/webhook", data=body, headers=_sign(body, "ping") | form)
    assert response.status_code == 200 and response.get_json()["status"] == "pong"
    for broken in (b"zen=x", b"payload=%7B%7D&payload=%7B%7D", b"payload=%FF", b"%%%"):
        response = client.post("/webhook", data=broken, headers=_sign(broken, "ping") | form)
        assert response.status_code == 400, broken
        assert "form" in response.get_json()["error"], broken


WRONG_SHAPES = [
    b"null",
    b"1",
    b'"spec"',
    b"true",
    b"[]",
    b"[1]",
    b'[{"kind": "Wukong"}, 2]',
    b"[[]]",
    b"{}",
    b'{"kind": "Wukong"}',
    b'{"kind": "Wukong", "metadata": []}',
    b'{"apiVersion": 1, "kind": ["Wukong"]}',
]


@pytest.mark.parametrize("body", WRONG_SHAPES)
def test_json_specs_of_every_wrong_shape(client, body) -> None:  # type: ignore[no-untyped-def]
    for path in ("/render", "/validate"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code in (400, 422), (path, body)
        _assert_answer(response)


PUSH_SHAPES = [
    b"null",
    b"[]",
    b'"push"',
    b"{}",
    b'{"ref": 1}',
    b'{"ref": "refs/heads/main"}',
    b'{"ref": "refs/heads/main", "before": "x", "after": "y"}',
    json.dumps(
        {"ref": "refs/heads/main", "before": "a" * 40, "after": "b" * 40, "repository": []}
    ).encode(),
    json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "a" * 40,
            "after": "b" * 40,
            "repository": {"clone_url": ["x"], "full_name": "o/r"},
        }
    ).encode(),
    json.dumps(
        {
            "ref": "refs/heads/main",
            "before": "a" * 40,
            "after": "b" * 40,
            "repository": {"clone_url": "git@h:o/r.git", "full_name": "o/r"},
        }
    ).encode(),
    json.dumps({"ref": "refs/heads/main\n", "before": "a" * 40, "after": "b" * 40}).encode(),
]


@pytest.mark.parametrize("body", PUSH_SHAPES)
def test_push_payloads_of_every_wrong_shape_are_400(client, body) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/webhook", data=body, headers=_sign(body))
    assert response.status_code == 400, response.get_json()
    assert "payload" in response.get_json()["error"] or "JSON" in response.get_json()["error"]


# --- names that try to leave the output folder --------------------------------------------------

ESCAPES = [
    ("name", "../evil"),
    ("name", "a/b"),
    ("name", ".."),
    ("namespace", "../../etc"),
    ("namespace", "/tmp"),
    ("namespace", "vms/../.."),
    ("disk", "../../x"),
]


def _escaping_spec(field: str, value: str) -> bytes:
    name = value if field == "name" else "vm"
    namespace = value if field == "namespace" else "vms"
    disk = value if field == "disk" else "system"
    return (
        f"{HEAD.decode()}metadata: {{name: '{name}', namespace: '{namespace}'}}\n"
        f"spec: {{cpu: 1, memory: 1Gi, disks: [{{name: '{disk}', size: 1Gi}}]}}\n"
    ).encode()


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(("field", "value"), ESCAPES)
def test_cli_render_never_writes_outside_the_output_folder(tmp_path, field, value) -> None:  # type: ignore[no-untyped-def]
    box = tmp_path / "box"
    (box / "specs").mkdir(parents=True)
    (box / "specs" / "vm.yaml").write_bytes(_escaping_spec(field, value))
    before = _snapshot(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "wukong_core", "render", "specs", "-o", "out", "--offline"],
        cwd=box,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "spec.invalid" in done.stdout and "specs/vm.yaml:" in done.stdout
    assert _snapshot(tmp_path) == before  # nothing written anywhere, not even out/


@pytest.mark.parametrize(
    ("field", "value"),
    [*ESCAPES, ("outputPath", "../out"), ("outputPath", "/tmp/out"), ("specPath", "../")],
)
def test_commit_back_never_writes_outside_the_output_folder(  # type: ignore[no-untyped-def]
    app, git_server, monkeypatch, field, value
) -> None:
    webhook_env(monkeypatch, git_server)
    files = {"wukong/ok.yaml": SPEC}
    if field in ("outputPath", "specPath"):
        files[".wukong.yaml"] = f"{field}: '{value}'\n".encode()
    else:
        files["wukong/vm.yaml"] = _escaping_spec(field, value)
    name = new_repo(git_server, files)
    head = git_server.head(name)
    response = deliver(app.test_client(), git_server, name, "escape-1")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "failure"
    assert {f["code"] for f in response.get_json()["findings"]} == {"spec.invalid"} | (
        {"vm.empty"} if field not in ("outputPath", "specPath") else set()
    ) or response.get_json()["summary"]["error"] >= 1
    assert git_server.head(name) == head
    assert sorted(git_server.files(name, "main")) == sorted(files)


def test_a_spec_file_whose_name_is_not_utf8_is_a_finding_not_a_crash(
    app, git_server, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    webhook_env(monkeypatch, git_server)
    bad = b"wukong/\xff\nvm.yaml".decode("utf-8", "surrogateescape")
    name = new_repo(git_server, {"wukong/ok.yaml": SPEC, bad: SPEC.replace(b"hybrid-vm", b"x")})
    head = git_server.head(name)
    response = deliver(app.test_client(), git_server, name, "bad-name-1")
    assert response.status_code == 200, response.data[:300]
    assert response.get_json()["status"] == "failure"
    [finding] = [f for f in response.get_json()["findings"] if f["severity"] == "error"]
    assert finding["file"] == "wukong/\\xff\\nvm.yaml" and "rename" in finding["message"]
    assert git_server.head(name) == head
