"""P2: offline render of 10,000 generated specs (3 disks each, 20 namespaces), and its scaling.

Ours: `pipeline.run` on the spec bytes (load, plan, checks) + `render_tree` -> files, with the
PreSync hooks the CLI writes by default. Baseline, the LibYAML floor: `CSafeLoader` load of the
same spec bytes + `CSafeDumper` dump (same options) of the same output objects. Then 20,000
specs against 10,000, interleaved in the same rounds. Every run starts cold (a fresh `Caches`),
as a fresh process would.
"""

from __future__ import annotations

from typing import Any

import yaml

from bench.common import Figure, make_specs, rotate, runs_for
from wukong_core import pipeline
from wukong_core.collector import collector_paused
from wukong_core.render.manifests import render_vm
from wukong_core.render.presync import presync_hooks

NAMESPACES = 20


def render(sources: list[tuple[str, bytes]]) -> dict[str, bytes]:
    with collector_paused():  # as `wukong render` runs it
        outcome = pipeline.run(sources, extras=presync_hooks())
    assert outcome.ok and outcome.files, "the generated specs must render cleanly"
    return outcome.files


def output_objects(sources: list[tuple[str, bytes]]) -> list[Any]:
    """What render_tree dumps: each VM, each namespace's hook objects and kustomizations."""
    outcome = pipeline.run(sources, render=False)
    extras = presync_hooks()
    objects: list[Any] = [render_vm(plan) for plan in outcome.plans]
    namespaces = sorted({plan.namespace for plan in outcome.plans})
    for namespace in namespaces:
        members = [p for p in outcome.plans if p.namespace == namespace]
        objects += extras(namespace, members).values()
        objects.append({"kind": "Kustomization", "resources": [f"{p.name}.yaml" for p in members]})
    objects.append({"kind": "Kustomization", "resources": namespaces})
    return objects


def floor(sources: list[tuple[str, bytes]], objects: list[Any]) -> None:
    for _, data in sources:
        yaml.load(data, Loader=yaml.CSafeLoader)
    for obj in objects:
        yaml.dump(
            obj, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False, width=1 << 16
        )


def measure(quick: bool) -> list[Figure]:
    count = 10_000
    small = make_specs(count, NAMESPACES)
    large = make_specs(2 * count, NAMESPACES)
    objects = output_objects(small)
    times = rotate(
        {
            "ours": lambda: render(small),
            "floor": lambda: floor(small, objects),
            "ours_20k": lambda: render(large),
        },
        runs_for(quick),
    )
    render_vs_floor = times.pair("ours", "floor")
    scaling = times.pair("ours_20k", "ours")
    return [
        Figure(
            id="P2",
            measure=f"offline render of {count:,} specs (3 disks, {NAMESPACES} namespaces)",
            baseline=f"CSafeLoader load + CSafeDumper dump: {render_vs_floor.describe('b')}",
            ours=f"pipeline.run + render_tree: {render_vs_floor.describe('a')}",
            ratio_median=render_vs_floor.median_ratio,
            ratio_fastest=render_vs_floor.fastest_ratio,
            target="<= 1.5x (stretch <= 1.0x)",
            passed=render_vs_floor.median_ratio <= 1.5,
            details={"ours_s": render_vs_floor.a, "floor_s": render_vs_floor.b},
        ),
        Figure(
            id="P2-scale",
            measure=f"offline render of {2 * count:,} specs vs {count:,}",
            baseline=f"{count:,} specs: {scaling.describe('b')}",
            ours=f"{2 * count:,} specs: {scaling.describe('a')}",
            ratio_median=scaling.median_ratio,
            ratio_fastest=scaling.fastest_ratio,
            target="<= 2.1x",
            passed=scaling.median_ratio <= 2.1,
            details={"ours_20k_s": scaling.a, "ours_10k_s": scaling.b},
        ),
    ]
