"""What people do on a Git host, done to a repository of the test Git server (tests/gitserver.py)
with git's own CLI: protect a branch, create one, merge a request."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.gitserver import GitServer


def protect_branch(server: GitServer, name: str, branch: str = "main") -> None:
    """A protected `branch`, as a host keeps one: only people (git's CLI) may update it;
    Wukong (dulwich) is refused. Every attempt on any ref is logged (`ref_updates`)."""
    hook = f"""#!/bin/sh
while read old new ref; do
  echo "$ref $old $new $HTTP_USER_AGENT" >> ref-updates.log
  case "$ref $HTTP_USER_AGENT" in
    "refs/heads/{branch} git/dulwich/"*) echo "{branch} is protected" >&2; exit 1;;
  esac
done
"""
    server.install_hook(name, "pre-receive", hook)


def ref_updates(server: GitServer, name: str) -> list[tuple[str, str]]:
    """(ref, user agent) of every update `protect_branch` saw, in order."""
    log = server.path(name) / "ref-updates.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(line.split(" ")[0], line.split(" ", 3)[3]) for line in lines]


def create_branch(server: GitServer, name: str, branch: str, sha: str) -> None:
    """Create `branch` at commit `sha`, as a person does in the host's web UI."""
    from tests.gitserver import git  # late: pytest imports it first, as a plugin

    git("update-ref", f"refs/heads/{branch}", sha, "0" * 40, cwd=server.path(name))


def merge(server: GitServer, name: str, head: str, base: str = "main", message: str = "") -> str:
    """Merge branch `head` into `base` as the host's merge button does (a merge commit,
    pushed with git's CLI); the new head of `base`."""
    from tests.gitserver import git

    with tempfile.TemporaryDirectory() as work:
        wt = Path(work) / "wt"
        auth = server.auth_config()
        git(*auth, "clone", "-q", "-b", base, server.url(name), str(wt))
        git("merge", "-q", "--no-ff", "-m", message or f"Merge {head}", f"origin/{head}", cwd=wt)
        git(*auth, "push", "-q", "origin", f"HEAD:refs/heads/{base}", cwd=wt)
        return git("rev-parse", "HEAD", cwd=wt)
