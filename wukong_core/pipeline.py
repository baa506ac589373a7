"""The one pipeline behind the CLI, the HTTP function and the PreSync Job.

load -> check each spec -> plan -> check plans and the repo -> check the cluster -> render.
Every stage but the cluster reads is pure; the caller brings the bytes and takes the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from wukong_core.caches import Caches
from wukong_core.checks.cluster import check_cluster
from wukong_core.checks.offline import check_plan, check_repo, check_spec
from wukong_core.checks.reads import Reads
from wukong_core.checks.safety import CODES as DATA_SAFETY
from wukong_core.checks.safety import compare_cluster, compare_output
from wukong_core.errors import PushIgnored, SpecError
from wukong_core.findings import Finding, has_errors
from wukong_core.folder import Folder, as_folder
from wukong_core.git.commit import RenderOutput, SourceTree
from wukong_core.objects import ClusterView
from wukong_core.plan import DEFAULT_NAMESPACE, VmPlan, plan_vm
from wukong_core.render.manifests import NamespaceExtras, render_output
from wukong_core.render.plan_cache import Key, PlanCache, SpecFile, cache_files_kept
from wukong_core.render.presync import DEFAULT_IMAGE, DEFAULT_JOB_NAMESPACE, presync_hooks
from wukong_core.report import text_line
from wukong_core.spec.load import LoadedSpec, load_bytes
from wukong_core.spec.models import ProtectDisks
from wukong_core.spec.repoconfig import CONFIG_FILE, RepoConfig, parse_repo_config

OFFLINE = "offline"


@dataclass(frozen=True)
class Outcome:
    plans: list[VmPlan]
    findings: list[Finding]
    files: dict[str, bytes] = field(default_factory=dict)  # empty whenever there is an error
    cluster: str = OFFLINE  # what the plans were validated against
    # VM files kept as `previous` holds them, whose bytes were not at hand: path -> blob id
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def plan_specs(
    specs: Iterable[LoadedSpec],
    default_namespace: str | None = None,
    protect_disks: ProtectDisks = "confirm",
) -> tuple[list[VmPlan], list[Finding]]:
    """Plan every spec that passes its own checks; the others yield only their findings."""
    namespace_default = default_namespace or DEFAULT_NAMESPACE
    plans: list[VmPlan] = []
    findings: list[Finding] = []
    for loaded in specs:
        namespace = loaded.spec.metadata.namespace or namespace_default
        problems = check_spec(loaded, namespace)
        findings += problems
        if has_errors(problems):
            continue
        plan = plan_vm(
            loaded.spec,
            loaded.file,
            loaded.line,
            loaded.disk_lines,
            namespace,
            protect_disks,
            loaded.spec_fields,
            loaded.disk_fields,
        )
        plans.append(plan)
        findings += check_plan(plan)
    return plans, findings


def validate_plans(plans: list[VmPlan], reads: Reads | None) -> list[Finding]:
    """The repository's checks, and the cluster's when there is one. `reads`: the run's reads
    of the cluster (None: offline), shared with the data-safety comparison that follows."""
    findings = check_repo(plans)
    if reads is not None:
        findings += check_cluster(plans, reads)
    return findings


def validate_presync(plans: list[VmPlan], cluster: ClusterView | None) -> list[Finding]:
    """The PreSync Job: the plans' checks, and what syncing them does to the data of the VMs
    live in their namespaces (`safety.compare_cluster`), which its log shows while Argo CD
    waits for a prune to be confirmed (a hook is deleted only once the sync succeeded)."""
    reads = Reads(cluster) if cluster is not None else None
    findings = validate_plans(plans, reads)
    if reads is not None:
        findings += compare_cluster(plans, reads)
    return sorted(findings, key=Finding.sort_key)


Sources = Folder | Iterable[tuple[str, bytes | str]]


def run(
    sources: Sources,
    *,
    cluster: ClusterView | None = None,
    default_namespace: str | None = None,
    render: bool = True,
    extras: NamespaceExtras | None = None,
    previous: Folder | Mapping[str, bytes] | None = None,
    output: str = "",
    protect_disks: ProtectDisks = "confirm",
    caches: Caches | None = None,
    plan_cache: bool = False,
) -> Outcome:
    """`sources`: the spec files, by path (a `Folder`, or (path, bytes) pairs in order).
    `previous` is what the output folder (`output`, as the user names it) holds now: the
    render keeps its VM files whose stamps hold and reports what replacing it does to data
    (`safety`). None: nothing to compare with (the HTTP /render answers manifests only).
    `caches` is what a long-lived instance remembers between runs (None: nothing).
    `plan_cache` (commit-back): reuse the records of the plan cache files in `previous` for
    the spec files they match, and write them anew (`render.plan_cache`). Otherwise they are
    neither read nor written: the CLI parses every spec (so `render --check` holds the
    output to the specs alone) and keeps the cache files of the namespaces it renders."""
    caches = caches or Caches.for_one_run()
    caches.new_pass()
    folder = None if previous is None else as_folder(previous)
    namespace_default = default_namespace or DEFAULT_NAMESPACE
    reuse = PlanCache(folder, namespace_default, protect_disks, caches) if plan_cache else None
    results = plan_files(sources, namespace_default, protect_disks, caches, reuse)
    plans = [plan for result in results.values() for plan in result.plans]
    findings = [finding for result in results.values() for finding in result.findings]
    reads = Reads(cluster) if cluster is not None else None
    findings += validate_plans(plans, reads)
    label = OFFLINE if cluster is None else cluster.source
    if not render or has_errors(findings):
        return Outcome(plans, sorted(findings, key=Finding.sort_key), {}, label)
    rendered = render_output(plans, extras, folder, caches)
    files = rendered.files
    if reuse is not None:
        files |= reuse.write(results, rendered)
    elif folder is not None:
        files |= cache_files_kept(folder, files)
    if folder is not None:
        findings += compare_output(
            folder, files, plans, output, reads, rendered.kept, caches.vm_plans.get
        )
    return Outcome(plans, sorted(findings, key=Finding.sort_key), files, label, rendered.kept)


def plan_files(
    sources: Sources,
    namespace_default: str,
    protect_disks: ProtectDisks,
    caches: Caches,
    reuse: PlanCache | None = None,
) -> dict[Key, SpecFile]:
    """What each spec file makes, by (blob id, path), in the order of `sources`.

    A spec file's plans and findings are a pure function of its bytes (its blob id), its path
    and the settings, so a warm instance (`caches.specs`) and a fresh one (the plan cache
    files, `reuse`) parse again only the files no record matches; their bytes are read
    together, in one request where they come from Git."""
    folder = sources if isinstance(sources, Folder) else _in_memory(sources)
    settings = (namespace_default, protect_disks)
    results: dict[Key, SpecFile | None] = {
        (blob, path): caches.specs.get((blob, path, *settings)) for path, blob in folder.ids.items()
    }
    misses = {key for key, result in results.items() if result is None}
    if misses and reuse is not None:
        for key, result in reuse.restore(misses).items():
            results[key] = result
            caches.specs.put((*key, *settings), result)
    missing = [path for (_, path), result in results.items() if result is None]
    data = folder.read(missing) if missing else {}
    for (blob, path), result in results.items():
        if result is None:
            specs, load_findings = load_bytes(data[path], path, caches.tags)
            plans, plan_findings = plan_specs(specs, namespace_default, protect_disks)
            result = results[blob, path] = SpecFile(tuple(plans), (*load_findings, *plan_findings))
            caches.specs.put((blob, path, *settings), result)
    return results  # type: ignore[return-value]  # every None was replaced


def _in_memory(sources: Iterable[tuple[str, bytes | str]]) -> Folder:
    # Text (a test's) is read as the UTF-8 it would be in a file.
    return Folder.of({p: d if isinstance(d, bytes) else d.encode("utf-8", "surrogatepass")
                      for p, d in sources})  # fmt: skip


def render_repository(
    tree: SourceTree,
    cluster: ClusterView | None = None,
    *,
    branch: str | None = None,
    default_branch: str = "",
    caches: Caches | None = None,
    admit: Callable[[RepoConfig], None] | None = None,
) -> RenderOutput:
    """One commit of a repository -> its rendered output tree: the commit-back renderer.

    Reads `.wukong.yaml`, then every YAML file under its spec path (never a changed-file list:
    the whole spec path is rendered every time, so a cut-short list cannot lose a change), and
    the output path, whose VM files are kept where they are what their plans render to
    (`render_output`).
    Files are judged by their Git blob ids first: only spec files that neither this instance
    nor the plan cache knows are read (`plan_files`). A broken `.wukong.yaml` is reported as a
    `spec.invalid` finding on that file, which stops the commit like any other error. With
    `branch`, raises PushIgnored unless the config watches it: a feature branch must never
    write the manifests Argo CD deploys. `admit` is called with the config of a branch that is
    rendered, before any spec is read; it may still raise PushIgnored (the webhook's loop guard
    needs the output path) and says "rendering" on the commit of a queued push.
    """
    caches = caches or Caches.for_one_run()
    try:
        config = parse_repo_config(_config_file(tree, caches))
    except SpecError as e:
        problem = Finding("spec.invalid", e.message, file=e.file or CONFIG_FILE, line=e.line)
        return RenderOutput(RepoConfig().output_path, {}, [problem], 0)
    if branch is not None and not config.watches(branch, default_branch):
        watched = ", ".join(config.branches) or f"the default branch {default_branch or '?'}"
        raise PushIgnored(
            f"branch {branch} is not rendered (watched: {watched}; set branches in .wukong.yaml)"
        )
    if admit is not None:
        admit(config)
    specs = tree.ids_under(config.spec_path)
    sources: dict[str, str] = {}
    unnamable: list[Finding] = []
    for path in sorted(specs):
        if not path.endswith((".yaml", ".yml")):
            continue
        shown = _shown_path(path)
        if shown == path:
            sources[path] = specs[path]
        elif any(load_bytes(tree.read_blobs([specs[path]])[specs[path]], shown)):
            # specs or findings: it is a Wukong file
            message = (
                "the file name is not printable UTF-8, so no manifest can name it as its "
                "source: rename the file"
            )
            unnamable.append(Finding("spec.invalid", message, file=shown, line=1))
    extras = None
    if config.presync_hooks:
        extras = presync_hooks(
            config.hook_image or DEFAULT_IMAGE, config.hook_namespace or DEFAULT_JOB_NAMESPACE
        )
    output = config.output_path.strip("/") + "/"
    # What the render replaces: the output folder of the commit it will be committed on.
    parent = tree
    if config.output_branch and config.output_branch != branch:
        parent = tree.branch(config.output_branch) or tree  # a new branch starts from `tree`
    previous = {p.removeprefix(output): blob for p, blob in parent.ids_under(output).items()}
    outcome = run(
        Folder(sources, tree),
        cluster=cluster,
        default_namespace=config.default_namespace,
        extras=extras,
        previous=Folder(previous, parent),
        output=output,
        protect_disks=config.protect_disks,
        caches=caches,
        plan_cache=True,
    )
    return RenderOutput(
        output_path=config.output_path,
        files={} if unnamable else outcome.files,
        findings=sorted(unnamable + outcome.findings, key=Finding.sort_key),
        vm_count=len(outcome.plans),
        output_branch=config.output_branch,
        summary=tuple(text_line(f) for f in outcome.findings if f.code in DATA_SAFETY),
        mode=config.mode,
        kept={} if unnamable else outcome.kept,
    )


def _config_file(tree: SourceTree, caches: Caches) -> bytes | None:
    """The bytes of `.wukong.yaml`: a warm instance knows them by their blob id."""
    blob = tree.id_of(CONFIG_FILE)
    if blob is None:
        return None
    data = caches.config_files.get(blob)
    if data is None:
        data = tree.read_blobs([blob])[blob]
        caches.config_files.put(blob, data)
    return data


def _shown_path(path: str) -> str:
    """`path` as it can be shown and written into a manifest: bytes that are not UTF-8 (Git
    allows them in names) as \\xNN, control characters escaped. Equal to `path` when it is fine."""
    if path.isprintable():  # the common case, 10x faster (surrogates are not printable)
        return path
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
