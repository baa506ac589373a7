"""`make demo`: a Git push webhook, end to end, on this machine and offline.

1. seeds a bare Git repository with examples/specs/ (as wukong/) in a temporary directory;
2. serves it on 127.0.0.1 over smart HTTP (git http-backend behind basic auth);
3. starts the HTTP function the way it is deployed (`functions-framework --target wukong`),
   validating against examples/cluster-snapshot.yaml when it is there;
4. sends a signed GitHub push webhook, then the same delivery again;
5. prints the answers, the commit Wukong pushed back and one rendered file.

Needs the project's virtualenv (run it with its python) and the `git` binary; nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "examples" / "cluster-snapshot.yaml"
USER = "wukong-bot"
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "Demo Human",
    "GIT_AUTHOR_EMAIL": "human@example.test",
    "GIT_COMMITTER_NAME": "Demo Human",
    "GIT_COMMITTER_EMAIL": "human@example.test",
}


def git(*args: str, cwd: Path | None = None) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **GIT_ENV}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"demo: git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.rstrip()


def seed_repository(bare: Path) -> str:
    """A bare repo whose main branch holds the example specs under wukong/; its head sha."""
    git("init", "--bare", "-q", "-b", "main", str(bare))
    git("config", "http.receivepack", "true", cwd=bare)  # let the function push over HTTP
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work)
        git("init", "-q", "-b", "main", work)
        (tree / "wukong").mkdir()
        for spec in sorted((ROOT / "examples" / "specs").glob("*.yaml")):
            shutil.copy(spec, tree / "wukong" / spec.name)
        (tree / "README.md").write_text("VM specs live in wukong/; Wukong renders rendered/.\n")
        git("add", "-A", cwd=tree)
        git("commit", "-q", "-m", "Add VM specs", cwd=tree)
        git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=tree)
    return git("rev-parse", "main", cwd=bare)


class GitHandler(BaseHTTPRequestHandler):
    """Smart HTTP: `git http-backend` as a CGI program, behind HTTP basic auth."""

    protocol_version = "HTTP/1.1"
    server: GitServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Authorization", "") != self.server.expected_auth:
            self.reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"unauthorized\n")
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
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        head, _, payload = out.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.reply(status, headers, payload)

    def reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, token: str) -> None:
        super().__init__(("127.0.0.1", 0), GitHandler)
        self.root = root
        self.expected_auth = "Basic " + base64.b64encode(f"{USER}:{token}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"demo: the function exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("demo: the function did not answer /healthz within 30 s")


def signed_push(repo_url: str, head: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """A GitHub push delivery: the payload fields Wukong reads, signed like GitHub signs."""
    commit = {
        "id": head,
        "message": "Add VM specs",
        "added": ["wukong/hybrid-vm.yaml"],
        "modified": [],
        "removed": [],
    }
    payload = {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": head,
        "repository": {"clone_url": repo_url, "full_name": "demo/vms"},
        "head_commit": commit,
        "commits": [commit],
    }
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
    return body, headers


def banner(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 74 - len(text)))


def main() -> int:
    if shutil.which("git") is None:
        print("demo: needs the git binary (for git http-backend)", file=sys.stderr)
        return 2
    token, hook_secret = secrets.token_hex(16), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="wukong-demo-") as tmp:
        root = Path(tmp) / "git"
        bare = root / "vms.git"
        source = seed_repository(bare)
        git_server = GitServer(root, token)
        threading.Thread(target=git_server.serve_forever, daemon=True).start()
        repo_url = f"http://127.0.0.1:{git_server.server_address[1]}/vms.git"

        port = free_port()
        cluster = f"snapshot:{SNAPSHOT}" if SNAPSHOT.is_file() else "offline"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WUKONG_")} | {
            "WUKONG_WEBHOOK_SECRET": hook_secret,
            "WUKONG_ALLOWED_REPOS": repo_url,
            "WUKONG_GIT_USERNAME": USER,
            "WUKONG_GIT_TOKEN": token,
            "WUKONG_CLUSTER": cluster,
            "PYTHONPATH": str(ROOT),
            "THREADS": "2",
        }
        log = Path(tmp) / "function.log"
        command = [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "wukong",
            "--source",
            str(ROOT / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        with log.open("wb") as log_file:
            function = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log_file, stderr=log_file
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, function, log)
            print(f"git server   {repo_url}  (main at {source[:7]}: wukong/*.yaml)")
            print(f"function     {base}  (functions-framework --target wukong, cluster: {cluster})")

            banner("1. signed GitHub push -> POST /webhook")
            body, headers = signed_push(repo_url, source, hook_secret)
            status, answer = post(f"{base}/webhook", body, headers)
            print(f"HTTP {status}")
            print(json.dumps(answer, indent=2, sort_keys=True))

            banner("2. the commit Wukong pushed back: git log -1 --stat")
            print(git("log", "-1", "--stat", "main", cwd=bare))

            banner("3. one rendered file: rendered/vms/hybrid-vm.yaml")
            print(git("show", "main:rendered/vms/hybrid-vm.yaml", cwd=bare))

            banner("4. the same delivery again (GitHub's Redeliver button)")
            status, again = post(f"{base}/webhook", body, headers)
            print(
                f"HTTP {status}: status={again.get('status')} redelivery={again.get('redelivery')}"
                f"; main is still {git('rev-parse', '--short', 'main', cwd=bare)}"
            )

            banner("5. the function's log line for the first delivery (structured JSON)")
            lines = [ln for ln in log.read_text().splitlines() if '"POST /webhook' in ln]
            print(lines[0] if lines else "(no log line found)")
            leaked = token in log.read_text() or hook_secret in log.read_text()
            print(f"\nsecrets in the function's log: {'YES' if leaked else 'none'}")
            ok = status == 200 and answer.get("status") == "committed" and not leaked
        finally:
            function.terminate()
            try:
                function.wait(timeout=10)
            except subprocess.TimeoutExpired:
                function.kill()
            git_server.shutdown()
            git_server.server_close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
