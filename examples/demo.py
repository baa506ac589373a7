"""`make demo`: a Git push webhook, end to end, on this machine and offline.

1. seeds a bare Git repository with examples/specs/ (as wukong/) in a temporary directory;
2. serves it on 127.0.0.1 over smart HTTP (git http-backend behind basic auth);
3. starts the HTTP function the way it is deployed (`functions-framework --target wukong`),
   validating against examples/cluster-snapshot.yaml when it is there;
4. sends a signed GitHub push webhook, then the same delivery again;
5. prints the answers, the commit Wukong pushed back, the commit status it set (on a fake of
   GitHub's API beside the repository, tests/forge.py) and one rendered file.

Needs the project's virtualenv (run it with its python) and the `git` binary; nothing else.
"""

from __future__ import annotations

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
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "examples" / "specs"
SNAPSHOT = ROOT / "examples" / "cluster-snapshot.yaml"
sys.path.insert(0, str(ROOT))
# The same Git server the commit-back tests push to: git http-backend behind basic auth.
from tests.forge import Forge  # noqa: E402
from tests.gitserver import TOKEN, USER, git, serve_git  # noqa: E402


def spec_files() -> dict[str, bytes]:
    """The demo repository: the example specs under wukong/, and a file that is not a spec."""
    files = {f"wukong/{p.name}": p.read_bytes() for p in sorted(SPECS.glob("*.yaml"))}
    files["README.md"] = b"VM specs live in wukong/; Wukong renders rendered/.\n"
    return files


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
        "repository": {"clone_url": repo_url, "full_name": "demo/vms", "default_branch": "main"},
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
    token, hook_secret = TOKEN, secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="wukong-demo-") as tmp, serve_git(Path(tmp)) as server:
        source = server.create_repo("demo/vms", spec_files())
        forge = Forge(token=token)  # the host's API beside the repository, as GHES serves it
        server.attach_forge(forge)
        bare, repo_url = server.path("demo/vms"), server.url("demo/vms")

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

            banner("3. the commit status on the pushed commit (what the person who pushed sees)")
            for call in forge.calls():
                print(f"{call.method} {call.path}\n{json.dumps(call.body, indent=2)}")

            banner("4. one rendered file: rendered/vms/hybrid-vm.yaml")
            print(git("show", "main:rendered/vms/hybrid-vm.yaml", cwd=bare))

            banner("5. the same delivery again (GitHub's Redeliver button)")
            status, again = post(f"{base}/webhook", body, headers)
            print(
                f"HTTP {status}: status={again.get('status')} redelivery={again.get('redelivery')}"
                f"; main is still {git('rev-parse', '--short', 'main', cwd=bare)}"
            )

            banner("6. the function's log line for the first delivery (structured JSON)")
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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
