"""Shared fixtures: where the official reference data lives, and the project's paths."""

from __future__ import annotations

import os
from pathlib import Path

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
