"""Helpers shared by the test_hardening_* modules: the HTTP app, signed deliveries, Git checks.

Everything here drives the real thing: functions-framework's app over main.py, git
http-backend on 127.0.0.1 (tests/gitserver.py) and the kmock API server (tests/kube.py).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import subprocess
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.conftest import ENV, EXAMPLES, ROOT
from wukong_core.marks import SOURCE_TRAILER

if TYPE_CHECKING:
    from tests.gitserver import GitServer

SECRET = "whsec-hardening-7c41e0d2"  # distinctive: a leak is easy to grep for
SPECS = {f"wukong/{p.name}": p.read_bytes() for p in sorted((EXAMPLES / "specs").glob("*.yaml"))}
TRAILER = SOURCE_TRAILER
_names = itertools.count()


def make_app():  # type: ignore[no-untyped-def]
    import functions_framework

    return functions_framework.create_app(target="wukong", source=str(ROOT / "main.py"))


def webhook_env(monkeypatch: Any, server: GitServer, secret: str = SECRET) -> None:
    """The environment of a webhook deployment that may push to repos named allowed-*."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WUKONG_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("WUKONG_ALLOWED_REPOS", f"http://127.0.0.1:{server.port}/allowed-*")
    monkeypatch.setenv("WUKONG_GIT_USERNAME", server.user)
    monkeypatch.setenv("WUKONG_GIT_TOKEN", server.token)


def new_repo(
    server: GitServer, files: dict[str, bytes] | None = None, prefix: str = "allowed"
) -> str:
    """A repository `<prefix>-hN/vms` (owner/name, as on every host)."""
    name = f"{prefix}-h{next(_names)}/vms"
    server.create_repo(name, SPECS if files is None else files)
    return name


def full_name(url: str) -> str:
    """The repository's name as its host's payload gives it (`repository.full_name`,
    `project.path_with_namespace`): the clone URL's path without `.git`, here owner/name."""
    return "/".join(urlsplit(url).path.strip("/").removesuffix(".git").split("/")[-2:])


def payload(url: str, head: str, **extra: Any) -> dict[str, Any]:
    """A GitHub push payload (only what Wukong reads, plus the usual commit list)."""
    commit = {"id": head, "message": "edit specs\n", "added": [], "modified": ["wukong/a.yaml"],
              "removed": []}  # fmt: skip
    return {
        "ref": "refs/heads/main",
        "before": "1" * 40,
        "after": head,
        "commits": [commit],
        "head_commit": commit,
        "repository": {"clone_url": url, "full_name": full_name(url), "default_branch": "main"},
    } | extra


def signed(body: bytes, delivery: str, secret: str = SECRET, event: str = "push") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + digest,
        "Content-Type": "application/json",
    }


def deliver(client: Any, server: GitServer, name: str, delivery: str, **kw: Any) -> Any:
    """POST /webhook: a signed push of `name`'s current head."""
    secret = kw.pop("secret", SECRET)
    url = kw.pop("url", None) or server.url(name)
    body = json.dumps(payload(url, server.head(name) or "0" * 40, **kw)).encode()
    return client.post("/webhook", data=body, headers=signed(body, delivery, secret))


def fsck(server: GitServer, name: str) -> str:
    """`git fsck --strict` of the bare repo: "" when clean, else what it found."""
    from tests.gitserver import GIT_ENV  # late: pytest must import it first, as a plugin

    done = subprocess.run(
        ["git", "fsck", "--strict", "--no-progress"],
        cwd=server.path(name),
        env={"PATH": "/usr/bin:/bin", **GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if done.returncode == 0 and not done.stdout.strip() else done.stdout + done.stderr


def render_commits_by_source(server: GitServer, name: str, branch: str = "main") -> dict[str, int]:
    """How many commits on `branch` carry `Wukong-Source-Commit: <sha>`, per source sha."""
    from tests.gitserver import git

    out = git("log", f"--format=%(trailers:key={TRAILER},valueonly)%x00", f"refs/heads/{branch}",
              cwd=server.path(name))  # fmt: skip
    counts: dict[str, int] = {}
    for entry in out.split("\x00"):
        for sha in entry.split():
            counts[sha] = counts.get(sha, 0) + 1
    return counts
