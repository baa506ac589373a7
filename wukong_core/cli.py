"""`wukong render|validate|serve|schema`: the command line, thin over the pipeline.

Exit status: 0 no errors (warnings allowed), 1 error findings, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import pipeline
from .errors import WukongError
from .findings import Finding, exit_code
from .load import read_paths
from .marks import GENERATED_MARK
from .plan import VmPlan, plans_from_json
from .presync import DEFAULT_IMAGE, DEFAULT_JOB_NAMESPACE, NamespaceExtras, presync_hooks
from .report import FORMATS, formatter

USAGE_ERROR = 2


def _cluster_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--offline", action="store_true", help="validate without a cluster")
    group.add_argument("--cluster-snapshot", metavar="FILE", help="kubectl get ... -o yaml output")
    group.add_argument("--kubeconfig", metavar="FILE", help="a kubeconfig file")
    group.add_argument("--in-cluster", action="store_true", help="the pod's service account")
    parser.add_argument("--context", help="kubeconfig context (with --kubeconfig)")


def _report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default="text", choices=sorted(FORMATS))
    parser.add_argument("--namespace", metavar="NS", help="namespace for specs that set none")


def _hook_flags(parser: argparse.ArgumentParser) -> None:
    hooks = parser.add_argument_group("Argo CD PreSync validation hook (one per namespace)")
    hooks.add_argument("--hook-image", default=DEFAULT_IMAGE, metavar="IMAGE", help="%(default)s")
    hooks.add_argument(
        "--hook-namespace", default=DEFAULT_JOB_NAMESPACE, metavar="NS", help="%(default)s"
    )
    hooks.add_argument("--no-hooks", action="store_true", help="render no PreSync hook")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wukong", description="Render and validate KubeVirt VMs from Wukong specs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="validate specs and write VirtualMachine manifests")
    render.add_argument("paths", nargs="+", metavar="PATH", help="spec files or directories")
    render.add_argument("-o", "--output", required=True, metavar="OUT", help="output directory")
    _cluster_flags(render)
    _report_flags(render)
    _hook_flags(render)
    validate = sub.add_parser("validate", help="validate specs (or a PreSync plan)")
    validate.add_argument("paths", nargs="*", metavar="PATH", help="spec files or directories")
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
    from .cluster import open_cluster

    return open_cluster(cluster_source(args), context=args.context)


def write_tree(out: Path, files: dict[str, bytes]) -> None:
    """Replace Wukong's files under `out`; files without the generated header are kept.

    Each file is written to a temporary name and renamed, so a reader never sees half a file.
    """
    root = out.resolve()
    targets = {name: (root / name).resolve() for name in files}
    outside = [name for name, target in targets.items() if not target.is_relative_to(root)]
    if outside:  # checked before anything is written
        raise WukongError(f"refusing to write {outside[0]!r} outside {out}")
    for name, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(files[name])
        temporary.replace(target)
    wanted = set(targets.values())
    for path in sorted(root.rglob("*.yaml")):
        if path not in wanted and path.read_bytes().startswith(GENERATED_MARK.encode()):
            path.unlink()
            if not any(path.parent.iterdir()) and path.parent != root:
                path.parent.rmdir()  # a namespace that no longer has VMs


def read_plans(path: Path) -> list[VmPlan]:
    """A plan file, or a directory of them (the PreSync Job mounts a large plan in parts)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise WukongError(f"no *.json plan in {path}")
    return [plan for file in files for plan in plans_from_json(file.read_bytes())]


def _print_report(findings: list[Finding], fmt: str, cluster: str) -> None:
    if fmt == "text":  # what was checked against, and what could not be (an older snapshot)
        offline = cluster == pipeline.OFFLINE
        note = "offline: no cluster checks ran" if offline else f"against {cluster}"
        print(f"validated {note}", file=sys.stderr)
    sys.stdout.write(formatter(fmt)(findings))


def _extras(args: argparse.Namespace) -> NamespaceExtras | None:
    if args.command != "render" or args.no_hooks:
        return None
    return presync_hooks(args.hook_image, args.hook_namespace)


def _validate_or_render(args: argparse.Namespace) -> int:
    extras = _extras(args)  # bad hook settings fail before any cluster read
    view = _open_cluster(args)
    if args.command == "validate" and args.plan:
        plans = read_plans(Path(args.plan))
        findings = pipeline.validate_plans(plans, view)
        _print_report(findings, args.format, view.source if view else pipeline.OFFLINE)
        return exit_code(findings)
    if not args.paths:
        raise WukongError("give spec files or directories, or --plan FILE")
    sources = list(read_paths(args.paths))
    outcome = pipeline.run(
        sources,
        cluster=view,
        default_namespace=args.namespace,
        render=args.command == "render",
        extras=extras,
    )
    _print_report(outcome.findings, args.format, outcome.cluster)
    if args.command == "render" and outcome.ok:
        write_tree(Path(args.output), outcome.files)
        print(f"rendered {len(outcome.plans)} VMs into {args.output}", file=sys.stderr)
    return exit_code(outcome.findings)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            from .api import serve

            serve(args.host, args.port)
            return 0
        if args.command == "schema":
            from .crd import crd_yaml, editor_schema_json

            sys.stdout.write(editor_schema_json() if args.json_schema else crd_yaml())
            return 0
        return _validate_or_render(args)
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""  # reading specs or writing output
        print(f"wukong: {e.strerror or e}{where}", file=sys.stderr)
        return USAGE_ERROR
    except (WukongError, ValueError) as e:
        print(f"wukong: {e}", file=sys.stderr)
        return USAGE_ERROR
