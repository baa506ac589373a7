"""Shared fixtures: where the official reference data lives, the project's paths, the forge."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
REFERENCE = Path(os.environ.get("WUKONG_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))
# The HTTP function's settings (README), cleared by tests that set their own.
ENV = (
    "WUKONG_WEBHOOK_SECRET",
    "WUKONG_ALLOWED_REPOS",
    "WUKONG_GIT_USERNAME",
    "WUKONG_GIT_TOKEN",
    "WUKONG_CLUSTER",
    "WUKONG_MAX_BODY_BYTES",
    "WUKONG_GIT_AUTHOR",
    "WUKONG_API_TOKEN",
    "WUKONG_STATUS_TOKEN",
    "WUKONG_QUEUE",
    "WUKONG_PUBSUB_TOKEN",
    "WUKONG_PUBSUB_AUDIENCE",
    "WUKONG_PUBSUB_SERVICE_ACCOUNT",
    "GOOGLE_CLOUD_PROJECT",
)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The official schemas and payloads (present in CI beside the clone, never copied in)."""
    if not REFERENCE.is_dir():
        pytest.skip(
            f"reference data absent: {REFERENCE} (the official KubeVirt/CDI/Kubernetes schemas "
            "live in ../shared/reference in CI; set WUKONG_REFERENCE_DIR to point elsewhere)"
        )
    return REFERENCE


@pytest.fixture(scope="session")
def action_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RUNNER_TEMP after action.yml's install step: `wukong/` is a fresh virtual environment
    holding the light package built from this checkout (tests/ci_runner.py)."""
    from tests.ci_runner import install_with_the_action

    runner_temp = tmp_path_factory.mktemp("runner-temp")
    install_with_the_action(runner_temp)
    return runner_temp


@pytest.fixture
def forge(git_server: Any) -> Iterator[Any]:
    """The fake forge (tests/forge.py) answering the Git hosts' API paths on the test Git
    server (tests/gitserver.py), as GitHub Enterprise Server, GitLab and Gitea serve them; it
    takes WUKONG_GIT_TOKEN, as the API does by default."""
    from tests.forge import Forge

    forge = Forge(token=git_server.token)
    git_server.attach_forge(forge)
    yield forge
    git_server.attach_forge(None)
