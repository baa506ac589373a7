"""A real Git smart-HTTP server on 127.0.0.1 for the commit-back tests.

Git's own `git http-backend` (CGI) sits behind a small threaded Python HTTP server that enforces
HTTP basic auth, so the code under test talks to exactly what a Git host speaks: protocol v0/v2,
report-status, side-band hook messages and compare-and-swap ref updates. The `git` binary is used
here only, never by the code under test.

Use it from a test module with `pytest_plugins = ["tests.gitserver"]`; the fixtures are
`git_server` (one per session) and `git_repo` (a fresh bare repository per test).
"""

from __future__ import annotations

import base64
import gzip
import hmac
import io
import itertools
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

USER = "wukong-bot"
TOKEN = "tok-3f9a1c77e2d54b08"  # distinctive, so a leak is easy to grep for

# An isolated git: no user or system config, a fixed identity, no prompts.
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Human",
    "GIT_AUTHOR_EMAIL": "human@example.test",
    "GIT_COMMITTER_NAME": "Human",
    "GIT_COMMITTER_EMAIL": "human@example.test",
}


def git(*args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **GIT_ENV, **(extra_env or {})}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _read_chunked(rfile) -> bytes:  # type: ignore[no-untyped-def]
    """Decode a `Transfer-Encoding: chunked` body (git sends one for large pushes)."""
    body = bytearray()
    while True:
        size = int(rfile.readline().split(b";", 1)[0].strip(), 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        body += rfile.read(size)
        rfile.readline()  # the CRLF after each chunk


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # http.server writes the headers and the body of an answer in two sends; with Nagle's
    # algorithm on, the body then waits for the client's delayed ACK of the headers (40 ms on
    # Linux) on every request. Git hosts' servers (nginx, ...) send without that stall.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    do_PATCH = do_PUT = do_DELETE = do_POST  # the forge's API (attach_forge)

    def _authorized(self) -> bool:
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        got = self.headers.get("Authorization", "")
        return hmac.compare_digest(got.encode(), expected.encode())

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _read_chunked(self.rfile)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        forge = self.server.forge
        if forge is not None and forge.handles(self.path):  # the host's API (tests/forge.py)
            forge.serve(self)
            return
        time.sleep(self.server.delay)
        if self._drop_push():
            return
        body = self._read_body()  # always drain, so keep-alive stays in sync
        self.server.requests.append(f"{self.command} {self.path}")
        self._record_wants(body)
        if not self._authorized():
            self._reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"unauthorized\n")
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            # Hooks see who pushes: git's CLI (a person) or dulwich (Wukong): tests/hosting.py
            "HTTP_USER_AGENT": self.headers.get("User-Agent", ""),
            # http-backend inflates gzip request bodies itself when told
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        self._reply_cgi(done.stdout)

    def _record_wants(self, body: bytes) -> None:
        """The objects a fetch asks for ("want <id>" lines), and its filter, per request."""
        name, _, service = self.path.partition("?")[0].removeprefix("/").partition(".git/")
        if self.command != "POST" or service != "git-upload-pack":
            return
        if self.headers.get("Content-Encoding", "") == "gzip":
            body = gzip.decompress(body)
        lines = [line.decode("ascii", "replace") for line in _pkt_lines(body)]
        wants = {line.split()[1] for line in lines if line.startswith("want ")}
        if wants:
            filters = [line.split()[1] for line in lines if line.startswith("filter ")]
            self.server.fetches.append((name, frozenset(wants), filters[0] if filters else None))

    def _drop_push(self) -> bool:
        """Fault injection: cut the connection of a push that `GitServer.drop_push` armed.

        "before": read a little of the pack, then hang up; receive-pack never runs, so the
        repository is untouched. "after": receive-pack runs (the ref moves), then hang up
        before the answer, so the client cannot know that its push landed.
        """
        name = self.path.partition("?")[0].removeprefix("/").partition(".git/")
        if self.command != "POST" or name[2] != "git-receive-pack":
            return False
        with self.server.lock:
            when = self.server.drops.pop(name[0], None)
        if when is None:
            return False
        if when == "before":
            self.rfile.read(min(64, int(self.headers.get("Content-Length") or 64)))
        else:
            self._run_backend_silently(self._read_body())
        self.server.requests.append(f"{self.command} {self.path} (dropped {when})")
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)
        return True

    def _run_backend_silently(self, body: bytes) -> None:
        """Run the request through http-backend and throw the answer away."""
        rfile, wfile = self.rfile, self.wfile
        self.rfile, self.wfile = io.BytesIO(body), io.BytesIO()
        del self.headers["Transfer-Encoding"], self.headers["Content-Length"]
        self.headers["Content-Length"] = str(len(body))
        try:
            self._serve()
        finally:
            self.rfile, self.wfile = rfile, wfile

    def _reply_cgi(self, out: bytes) -> None:
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self._reply(status, headers, payload)

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; nothing to tell it


def _pkt_lines(data: bytes) -> Iterator[bytes]:
    """The payloads of git's pkt-line framing (flush and delimiter packets skipped)."""
    while len(data) >= 4:
        size = int(data[:4], 16)
        if size < 4:
            data = data[4:]
            continue
        yield data[4:size].rstrip(b"\n")
        data = data[size:]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.requests: list[str] = []
        self.fetches: list[tuple[str, frozenset[str], str | None]] = []  # (repo, wants, filter)
        self.drops: dict[str, str] = {}  # repo name -> "before" | "after": the next push dies
        self.delay = 0.0  # seconds before each answer: a slow or hung Git host
        self.forge: Any = None  # a tests.forge.Forge answering the host's API paths
        self.lock = threading.Lock()
        _SERVERS[self.server_address[1]] = self


_SERVERS: dict[int, _Server] = {}  # by port: how a GitServer reaches its request log and faults


@dataclass
class GitServer:
    """Bare repositories under `root`, served at http://127.0.0.1:<port>/<name>.git."""

    root: Path
    port: int
    user: str = USER
    token: str = TOKEN

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def requests(self, name: str | None = None) -> list[str]:
        """Every request the server received (for repo `name`), as "METHOD /path", in order,
        authorised or not: proof that a refused delivery never reached Git."""
        lines = list(_SERVERS[self.port].requests)
        return [r for r in lines if name is None or r.split(" ")[1].startswith(f"/{name}.git/")]

    def fetches(self, name: str) -> list[tuple[frozenset[str], str | None]]:
        """Every fetch of repo `name`, in order: the object ids it wanted, and its filter
        ("blob:none" for a partial clone, None for a plain fetch)."""
        return [(wants, spec) for repo, wants, spec in _SERVERS[self.port].fetches if repo == name]

    def drop_push(self, name: str, when: str = "before") -> None:
        """Cut the connection of the next push to `name`, "before" or "after" receive-pack ran."""
        assert when in ("before", "after"), when
        with _SERVERS[self.port].lock:
            _SERVERS[self.port].drops[name] = when

    def attach_forge(self, forge: Any) -> None:
        """Serve a tests.forge.Forge's API paths beside the repositories (None: stop), as
        GitHub Enterprise Server, GitLab and Gitea serve their API on the clone URL's origin."""
        _SERVERS[self.port].forge = forge

    def slow_down(self, seconds: float) -> None:
        """Wait `seconds` before answering each request from now on (0 to stop)."""
        _SERVERS[self.port].delay = seconds

    def path(self, name: str) -> Path:
        return self.root / f"{name}.git"

    def create_repo(
        self, name: str, files: dict[str, bytes], branch: str = "main", filters: bool = True
    ) -> str:
        """A bare repo whose `branch` holds one commit with `files`; returns its sha.
        `filters`: the server allows partial clones, as GitHub, GitLab and Gitea do."""
        bare = self.path(name)
        git("init", "--bare", "-q", "-b", branch, str(bare))
        git("config", "http.receivepack", "true", cwd=bare)
        git("config", "uploadpack.allowFilter", "true" if filters else "false", cwd=bare)
        with tempfile.TemporaryDirectory() as work:
            git("init", "-q", "-b", branch, work)
            # No background `gc --auto` after a large first commit: it would still be writing
            # into the folder that is removed next.
            git("config", "gc.auto", "0", cwd=Path(work))
            _write(Path(work), files)
            git("add", "-A", cwd=Path(work))
            git("commit", "-q", "-m", "initial specs", cwd=Path(work))
            git("push", "-q", str(bare), f"HEAD:refs/heads/{branch}", cwd=Path(work))
        return self.head(name, branch)

    def install_hook(self, name: str, hook: str, script: str) -> None:
        target = self.path(name) / "hooks" / hook
        target.write_text(script)
        target.chmod(0o755)

    def land_then_decline(self, name: str, words: str, branch: str = "main") -> None:
        """The next push to `branch` loses a race told in words no client can recognise:
        while it waits, another commit lands on `branch` (as a concurrent push would), then a
        pre-receive hook declines it saying `words`. Later pushes pass."""
        # Outside git's quarantine (its variables unset), the hook is just another writer.
        hook = f"""#!/bin/sh
[ -e landed ] && exit 0
touch landed
(unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
 head=$(git rev-parse refs/heads/{branch})
 new=$(git -c user.name=Human -c user.email=human@example.test commit-tree \
   "$head^{{tree}}" -p "$head" -m "landed meanwhile")
 git update-ref refs/heads/{branch} "$new" "$head") || exit 3
echo '{words}' >&2
exit 1
"""
        self.install_hook(name, "pre-receive", hook)

    def head(self, name: str, branch: str = "main") -> str | None:
        try:
            return git("rev-parse", "--verify", "-q", f"refs/heads/{branch}", cwd=self.path(name))
        except RuntimeError:
            return None

    def log(self, name: str, branch: str = "main") -> list[str]:
        """Full commit messages of `branch`, newest first."""
        out = git("log", "--format=%B%x00", f"refs/heads/{branch}", cwd=self.path(name))
        return [m.strip() for m in out.split("\x00") if m.strip()]

    def show(self, name: str, rev: str) -> str:
        return git("show", "-s", "--format=%P%n%B", rev, cwd=self.path(name))

    def files(self, name: str, rev: str) -> dict[str, bytes]:
        """Every file in `rev`'s tree."""
        listing = git("ls-tree", "-r", "--name-only", rev, cwd=self.path(name)).splitlines()
        return {p: self.read(name, rev, p) for p in listing}

    def git_id(self, name: str, rev: str) -> str:
        """The object id `rev` names (`main:path/to/file` for a file's blob id)."""
        return git("rev-parse", rev, cwd=self.path(name))

    def read(self, name: str, rev: str, path: str) -> bytes:
        done = subprocess.run(
            ["git", "cat-file", "blob", f"{rev}:{path}"],
            cwd=self.path(name),
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            check=True,
        )
        return done.stdout

    def auth_config(self) -> list[str]:
        """`-c` options that authenticate the git CLI without writing the token to disk."""
        basic = base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        return ["-c", f"http.extraHeader=Authorization: Basic {basic}"]

    def human_push(
        self,
        name: str,
        files: dict[str, bytes],
        message: str = "human edit",
        branch: str = "main",
        delete: tuple[str, ...] = (),
    ) -> str:
        """Clone `branch` over HTTP with the git CLI, change files, commit, push; return sha."""
        with tempfile.TemporaryDirectory() as work:
            wt = Path(work) / "wt"
            auth = self.auth_config()
            git(*auth, "clone", "-q", "--depth", "1", "-b", branch, self.url(name), str(wt))
            _write(wt, files)
            for path in delete:
                git("rm", "-q", path, cwd=wt)
            git("add", "-A", cwd=wt)
            git("commit", "-q", "-m", message, cwd=wt)
            git(*auth, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=wt)
            return git("rev-parse", "HEAD", cwd=wt)


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@contextmanager
def serve_git(root: Path) -> Iterator[GitServer]:
    """Serve the bare repositories under `root` until the block ends."""
    server = _Server(root)
    thread = threading.Thread(target=server.serve_forever, name="git-server", daemon=True)
    thread.start()
    try:
        yield GitServer(root=root, port=server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with serve_git(tmp_path_factory.mktemp("git-server")) as server:
        yield server


_names = itertools.count()


@dataclass
class GitRepo:
    """One fresh bare repository on the server, as seen from a test."""

    server: GitServer
    name: str
    initial: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def head(self, branch: str = "main") -> str | None:
        return self.server.head(self.name, branch)


@pytest.fixture
def git_repo(git_server: GitServer) -> GitRepo:
    """A bare repo with two Wukong specs under wukong/ on `main`."""
    name = f"team/repo{next(_names)}"  # owner/name, as on every Git host
    files = {
        "wukong/a.yaml": b"kind: Wukong\nmetadata: {name: a}\n",
        "wukong/b.yaml": b"kind: Wukong\nmetadata: {name: b}\n",
        "README.md": b"specs live in wukong/\n",
    }
    return GitRepo(git_server, name, git_server.create_repo(name, files))
