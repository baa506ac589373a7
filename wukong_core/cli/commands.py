"""`wukong render|diff|validate|serve|schema`: the command line, thin over the pipeline.

Run in a repository, the CLI reads its `.wukong.yaml` (worktree.py says which folder is the
root): with no PATH it renders or validates the spec path into the output path, with the
namespace and hook settings commit-back uses, so `wukong render` writes what commit-back would
commit. Flags override the file.

Exit status: 0 no errors (warnings allowed), 1 error findings or a `render --check` mismatch,
2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from wukong_core import pipeline
from wukong_core.cli.worktree import read_config, read_tree, repo_root, write_tree
from wukong_core.collector import collector_paused
from wukong_core.errors import WukongError
from wukong_core.extras import require
from wukong_core.findings import Finding, exit_code
from wukong_core.plan import VmPlan, plans_from_json
from wukong_core.render.changes import Change, changes, unified_diff, vm_summary
from wukong_core.render.presync import (
    DEFAULT_IMAGE,
    DEFAULT_JOB_NAMESPACE,
    NamespaceExtras,
    presync_hooks,
)
from wukong_core.report import FORMATS, annotation, as_markdown, as_text, formatter
from wukong_core.spec.load import read_paths
from wukong_core.spec.models import PROTECT_DISKS
from wukong_core.spec.repoconfig import RepoConfig

USAGE_ERROR = 2
MISMATCH = 1  # `render --check`: the output folder is not what the specs render


def _cluster_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--offline", action="store_true", help="validate without a cluster")
    group.add_argument("--cluster-snapshot", metavar="FILE", help="kubectl get ... -o yaml output")
    group.add_argument("--kubeconfig", metavar="FILE", help="a kubeconfig file")
    group.add_argument("--in-cluster", action="store_true", help="the pod's service account")
    parser.add_argument("--context", help="kubeconfig context (with --kubeconfig)")


def _report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        default="text",
        choices=sorted(FORMATS),
        help="github also writes a Markdown summary to $GITHUB_STEP_SUMMARY when set",
    )
    _namespace_flag(parser)


def _namespace_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace", metavar="NS", help="namespace for specs that set none (.wukong.yaml)"
    )


def _render_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="default: .wukong.yaml specPath")
    parser.add_argument("-o", "--output", metavar="OUT", help="default: .wukong.yaml outputPath")
    parser.add_argument(
        "--protect-disks",
        choices=PROTECT_DISKS,
        help="VMs that own disks: Argo CD prunes or deletes them only after a person confirms "
        "(confirm, the default; Argo CD >= 2.14), never (never), or like anything else (off); "
        "default: .wukong.yaml protectDisks",
    )
    _cluster_flags(parser)
    hooks = parser.add_argument_group("Argo CD PreSync validation hook (one per namespace)")
    hooks.add_argument(
        "--hook-image", metavar="IMAGE", help=f".wukong.yaml hookImage, else {DEFAULT_IMAGE}"
    )
    hooks.add_argument(
        "--hook-namespace",
        metavar="NS",
        help=f".wukong.yaml hookNamespace, else {DEFAULT_JOB_NAMESPACE}",
    )
    hooks.add_argument("--no-hooks", action="store_true", help="render no PreSync hook")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wukong", description="Render and validate KubeVirt VMs from Wukong specs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="validate specs and write VirtualMachine manifests")
    _render_flags(render)
    _report_flags(render)
    render.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the output folder is not what the specs render",
    )
    diff = sub.add_parser("diff", help="print what a render would change, as a unified diff")
    _render_flags(diff)
    _namespace_flag(diff)
    validate = sub.add_parser("validate", help="validate specs (or a PreSync plan)")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="default: .wukong.yaml specPath")
    validate.add_argument(
        "--plan", metavar="FILE", help="a validation plan, or a directory of them (PreSync Job)"
    )
    _cluster_flags(validate)
    _report_flags(validate)
    serve = sub.add_parser("serve", help="run the HTTP function locally")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    serve.add_argument("--host", default="127.0.0.1")
    schema = sub.add_parser("schema", help="print the Wukong CustomResourceDefinition")
    schema.add_argument("--json-schema", action="store_true", help="the editors' JSON schema")
    return parser


def cluster_source(args: argparse.Namespace) -> str:
    """The flags as a WUKONG_CLUSTER value; no flag means WUKONG_CLUSTER, else offline."""
    if args.offline:
        return "offline"
    if args.cluster_snapshot:
        return f"snapshot:{args.cluster_snapshot}"
    if args.kubeconfig:
        return f"kubeconfig:{args.kubeconfig}"
    if args.in_cluster:
        return "in-cluster"
    return os.environ.get("WUKONG_CLUSTER", "offline")


def _open_cluster(args: argparse.Namespace):  # -> ClusterView | None
    from wukong_core.cluster import open_cluster

    return open_cluster(cluster_source(args), context=args.context)


def read_plans(path: Path) -> list[VmPlan]:
    """A plan file, or a directory of them (the PreSync Job mounts a large plan in parts)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise WukongError(f"no *.json plan in {path}")
    return [plan for file in files for plan in plans_from_json(file.read_bytes())]


def _print_report(
    findings: list[Finding], fmt: str, cluster: str | None, vms: Sequence[VmPlan] = ()
) -> None:
    """`cluster`: what was validated against (None: nothing was, the run stopped before)."""
    if fmt == "text" and cluster is not None:
        print(_validated(cluster), file=sys.stderr)
    sys.stdout.write(formatter(fmt)(findings, vms))
    _step_summary(fmt, as_markdown(findings, vms))


def _validated(cluster: str) -> str:
    """What was checked against, and what could not be (an older snapshot)."""
    offline = cluster == pipeline.OFFLINE
    return f"validated {'offline: no cluster checks ran' if offline else f'against {cluster}'}"


def _report_to_stderr(findings: list[Finding], cluster: str | None) -> None:
    """`wukong diff` keeps stdout for the patch."""
    if cluster is not None:
        print(_validated(cluster), file=sys.stderr)
    if findings:
        sys.stderr.write(as_text(findings))


def _step_summary(fmt: str, markdown: str) -> None:
    """GitHub Actions shows what a step appends to $GITHUB_STEP_SUMMARY on the run's page."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(markdown)


def _extras(args: argparse.Namespace, config: RepoConfig) -> NamespaceExtras | None:
    if args.command == "validate" or args.no_hooks or not config.presync_hooks:
        return None
    image = args.hook_image or config.hook_image or DEFAULT_IMAGE
    return presync_hooks(
        image, args.hook_namespace or config.hook_namespace or DEFAULT_JOB_NAMESPACE
    )


def _shown(path: Path, root: Path) -> str:
    """A path as manifests name files: relative to the repository root when inside it."""
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _validate_or_render(args: argparse.Namespace) -> int:
    root = repo_root()
    config, problems = read_config(root)
    if problems:  # a broken .wukong.yaml: reported like any spec, in the asked format
        if args.command == "diff":
            _report_to_stderr(problems, None)
        else:
            _print_report(problems, args.format, None)
        return exit_code(problems)
    extras = _extras(args, config)  # bad hook settings fail before any cluster read
    view = _open_cluster(args)
    if args.command == "validate" and args.plan:
        plans = read_plans(Path(args.plan))
        findings = pipeline.validate_presync(plans, view)
        _print_report(findings, args.format, view.source if view else pipeline.OFFLINE, plans)
        return exit_code(findings)
    paths = args.paths or [_spec_folder(root, config)]
    out = Path(args.output) if getattr(args, "output", None) else root / config.output_path
    rendering = args.command != "validate"
    current = read_tree(out) if rendering else None  # None: nothing to compare with
    outcome = pipeline.run(
        read_paths(paths),
        cluster=view,
        default_namespace=args.namespace or config.default_namespace,
        render=rendering,
        extras=extras,
        previous=current,
        output=_shown(out, root) + "/" if rendering else "",
        protect_disks=getattr(args, "protect_disks", None) or config.protect_disks,
    )
    found = changes(current or {}, outcome.files)
    if args.command == "diff":
        return _diff(outcome, found, _shown(out, root))
    _print_report(outcome.findings, args.format, outcome.cluster, outcome.plans)
    if args.command == "render" and outcome.ok:
        if args.check:
            return _check(found, _shown(out, root), args.format)
        write_tree(out, outcome.files, current)
        print(f"rendered {len(outcome.plans)} VMs into {_shown(out, root)}", file=sys.stderr)
    return exit_code(outcome.findings)


def _spec_folder(root: Path, config: RepoConfig) -> Path:
    folder = root / config.spec_path
    if not folder.is_dir():
        raise WukongError(
            f"no spec folder {config.spec_path or './'} in {root}: give spec files or "
            "directories, or set specPath in .wukong.yaml"
        )
    return folder


def _check(found: list[Change], folder: str, fmt: str) -> int:
    """`render --check`: the committed output must be exactly what the specs render."""
    if not found:
        print(f"{folder}/ matches the specs", file=sys.stderr)
        return 0
    fix = "run `wukong render` and commit the result"
    print(f"wukong: {folder}/ is not what the specs render ({fix}):", file=sys.stderr)
    for change in found:
        print(f"  {change.kind:8} {folder}/{change.path}", file=sys.stderr)
    if fmt == "github":
        for change in found:
            message = f"{change.kind} by a render of the specs: {fix}"
            sys.stdout.write(annotation("error", message, "wukong render --check",
                                        f"{folder}/{change.path}"))  # fmt: skip
        lines = "".join(f"- {c.kind} `{folder}/{c.path}`\n" for c in found)
        _step_summary(fmt, f"\n**`{folder}/` is not what the specs render**: {fix}.\n\n{lines}")
    return MISMATCH


def _diff(outcome: pipeline.Outcome, found: list[Change], folder: str) -> int:
    """`wukong diff`: the VMs a render would add, change or remove, then the patch itself.
    Findings go to stderr, so that stdout is a patch `git apply` takes."""
    _report_to_stderr(outcome.findings, outcome.cluster)
    if not outcome.ok:
        return exit_code(outcome.findings)
    if not found:
        print(f"{folder}/: no changes", file=sys.stderr)
        return 0
    vms = vm_summary(found)
    counts = ", ".join(f"{len(names)} {kind}" for kind, names in vms.items())
    print(f"{folder}/: VMs {counts}")
    for kind, names in vms.items():
        for name in names:
            print(f"  {kind:8} {name}")
    sys.stdout.write(unified_diff(found, folder))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            require("server", "wukong serve")
            from wukong_core.endpoints.app import serve

            serve(args.host, args.port)
            return 0
        if args.command == "schema":
            from wukong_core.spec.crd import crd_yaml, editor_schema_json

            sys.stdout.write(editor_schema_json() if args.json_schema else crd_yaml())
            return 0
        with collector_paused():
            return _validate_or_render(args)
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""  # reading specs or writing output
        print(f"wukong: {e.strerror or e}{where}", file=sys.stderr)
        return USAGE_ERROR
    except (WukongError, ValueError) as e:
        print(f"wukong: {e}", file=sys.stderr)
        return USAGE_ERROR
