"""The package's optional parts: which extra brings which modules, and the one-line error when
one is missing. Pure: it only asks the import system whether a module can be found.

`pip install wukong` is the spec core, the renderer and the CLI's offline and snapshot
validation (pydantic, PyYAML). A live cluster needs `wukong[cluster]`; the HTTP function needs
`wukong[server]`. Asking before importing turns "No module named 'kubernetes'" deep inside a
traceback into `wukong: ... pip install 'wukong[cluster]'`.
"""

from __future__ import annotations

from importlib.util import find_spec

from wukong_core.errors import UsageError

# extra (pyproject.toml [project.optional-dependencies]) -> the modules the code imports from it
MODULES: dict[str, tuple[str, ...]] = {
    "cluster": ("kubernetes",),
    "server": ("werkzeug", "functions_framework", "google.cloud.logging_v2", "dulwich"),
    "queue": ("google.cloud.pubsub_v1", "google.oauth2"),
}


class MissingExtraError(UsageError):
    """A feature needs an optional dependency this install lacks (exit 2, HTTP 503)."""


def require(extra: str, feature: str) -> None:
    """Raise MissingExtraError naming `extra` unless every module it brings can be imported."""
    missing = [name for name in MODULES[extra] if not _findable(name)]
    if missing:
        raise MissingExtraError(
            f"{feature} needs the {extra} extra ({', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed): pip install 'wukong[{extra}]'"
        )


def _findable(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package ("google") is missing itself
        return False
