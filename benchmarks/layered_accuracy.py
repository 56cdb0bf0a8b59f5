"""Accuracy of the layered service model's analytic solution against its simulation.

Run from the project root::

    .venv/bin/python benchmarks/layered_accuracy.py              # 160 random layouts (~8 min)
    .venv/bin/python benchmarks/layered_accuracy.py --points 20  # a quick look

Each point is a random replica drawn (seeded) over the issue's grid: 1-3 pools (some behind
PgBouncer), processes 1-16, threads 1-32 (or an event loop), cores 1-8, a CPU share of each
request's time of 10-90%, one to three classes, and the busiest layer's offered utilization
0.3-0.9.  ``ServiceModel.solve()`` is compared with ``ServiceModel.simulate()`` (``--customers``
arrivals, 10% warm-up) per class: relative errors of the mean and of the p95 and p99 response
time.  Prints the medians and maxima, the worst points, and writes the rows to ``--csv``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from _report_section import study_main
from capplan import layered as ly
from capplan.layered.solve import layer_loads

SCVS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def random_model(rng: np.random.Generator) -> tuple[ly.ServiceModel, dict[str, Any]]:
    """A replica and what it was drawn from (rates to be scaled to the target utilization)."""
    event_loop = rng.random() < 0.2
    workers: ly.Workers | ly.EventLoop
    if event_loop:
        workers = ly.EventLoop(int(rng.choice([16, 64, 256])))
    else:
        workers = ly.Workers(int(rng.choice([1, 2, 4, 8, 16])), int(rng.choice([1, 2, 4, 8, 16, 32])))
    cores = int(rng.choice([1, 2, 4, 8]))
    n_pools = int(rng.integers(0, 4))
    pools = {}
    for j in range(n_pools):
        size = int(rng.choice([1, 2, 4, 8, 16]))
        limit = int(rng.choice([2, 4, 8, 16, 32])) if rng.random() < 0.4 else None
        pools[f"p{j}"] = ly.Pool(size, limit)
    cpu_share = float(rng.uniform(0.1, 0.9))
    classes = []
    for k in range(int(rng.integers(1, 4))):
        total = float(rng.choice([0.002, 0.01, 0.05]))
        cpu = total * cpu_share
        rest = total - cpu
        steps: list[ly.Step] = [ly.Cpu(cpu * 0.6, float(rng.choice(SCVS)))]
        for name in pools:
            steps.append(ly.Hold(name, rest / (n_pools + 1), float(rng.choice(SCVS))))
        steps.append(ly.Wait(rest / (n_pools + 1), float(rng.choice(SCVS))))
        steps.append(ly.Cpu(cpu * 0.4, float(rng.choice(SCVS))))
        classes.append(ly.RequestClass(f"c{k}", float(rng.uniform(0.5, 2.0)), tuple(steps)))
    gil_free = float(rng.choice([0.0, 0.1, 0.3]))
    model = ly.ServiceModel(classes, workers=workers, cores=cores, gil_free=gil_free, pools=pools)
    return model, {"event_loop": event_loop, "cpu_share": cpu_share}


def offered(model: ly.ServiceModel) -> pd.Series:
    """Each layer's offered utilization: work arriving over servers, with no queueing anywhere
    (the workers' work is each request's bare residence)."""
    loads = layer_loads(model)["utilization"].copy()
    bare = [sum(step.mean for step in c.steps) for c in model.classes]
    loads["workers"] = sum(c.rate * b for c, b in zip(model.classes, bare, strict=True)) / model.workers.slots
    return loads


def scale_to(model: ly.ServiceModel, target: float) -> ly.ServiceModel:
    """Rates scaled so that the busiest layer's offered utilization is ``target``."""
    return model.scaled(target / float(offered(model).max()))


def describe(model: ly.ServiceModel) -> str:
    w = model.workers
    layout = f"loop({w.concurrency})" if isinstance(w, ly.EventLoop) else f"{w.processes}x{w.threads}"
    pools = ",".join(
        f"{p.size}" + (f"/{p.server_limit}" if p.server_limit else "") for p in model.pools.values()
    )
    shape = f"cores={model.cores} gil_free={model.gil_free:g} pools=[{pools}]"
    return f"{layout} {shape} classes={len(model.classes)}"


def run_point(i: int, seed: int, customers: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng([seed, i])
    model, info = random_model(rng)
    target = float(rng.uniform(0.3, 0.9))
    model = scale_to(model, target)
    start = time.perf_counter()
    solved = model.solve()
    solve_s = time.perf_counter() - start
    start = time.perf_counter()
    sim = model.simulate(customers, seed=int(rng.integers(2**31)))
    sim_s = time.perf_counter() - start
    # The cores' simulated busy time per unit of time over the offered: the simulation runs until
    # the last request leaves, so where its queue grew through the run the ratio falls below 1.
    busy = sim.layers["utilization"]
    served = float(busy["cores"]) / float(offered(model)["cores"])
    rows = []
    for name in solved.classes.index:
        row: dict[str, Any] = {"point": i, "class": name, "target": target, "binding": solved.binding}
        row["sim_served"] = served
        row["sim_workers"] = float(busy["workers"])
        row.update({"layout": describe(model), "solve_ms": 1e3 * solve_s, "sim_s": sim_s, **info})
        for metric in ("response_mean", "response_p95", "response_p99"):
            model_v, sim_v = float(solved.classes.loc[name, metric]), float(sim.classes.loc[name, metric])
            row[f"err_{metric}"] = model_v / sim_v - 1.0
            row[f"ci_{metric}"] = float(sim.classes.loc[name, f"{metric}_ci"]) / sim_v
        rows.append(row)
    return rows


METRICS = ("response_mean", "response_p95", "response_p99")


def _stats(df: pd.DataFrame) -> list[str]:
    cells = []
    for metric in METRICS:
        e = df[f"err_{metric}"].abs()
        cells += [f"{100 * e.median():.1f}%", f"{100 * e.max():.1f}%", f"{100 * (e <= 0.15).mean():.0f}%"]
    return cells


#: A simulation whose cores do less than this share of the offered CPU work per second over the
#: run, or whose workers are busy more than ``SATURATED`` of the time, did not keep up: its queue
#: grew for the whole run (or as good as), and its latencies are a transient's.
KEPT_UP = 0.98
SATURATED = 0.999


def _verdicts(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per row: the analytic solution finds the replica unstable; the simulation did not keep up."""
    unstable = ~np.isfinite(df["err_response_mean"])
    if "sim_served" in df:
        behind = (df["sim_served"] < KEPT_UP) | (df["sim_workers"] > SATURATED)
    else:
        behind = pd.Series(False, index=df.index)
    return unstable, behind


def _stability_line(df: pd.DataFrame) -> str:
    """Where the analytic solution and the simulation disagree on stability (or agree it fails)."""
    unstable, behind = _verdicts(df)
    points = df.point.nunique()

    def layouts(rows: pd.DataFrame) -> str:
        return "".join(f" `{x}`;" for x in rows.layout.unique())

    both, lost, missed = df[unstable & behind], df[unstable & ~behind], df[~unstable & behind]
    lines = []
    if len(both):
        lines.append(
            f"In {both.point.nunique()} of {points} replicas the simulation does not keep up (its cores"
            f" do under {KEPT_UP:.0%} of the offered CPU work per second over the run, or its workers"
            f" are busy over {SATURATED:.1%} of the time: its queue grew throughout, and its finite"
            " latencies are a transient's) and the analytic solution finds"
            " them unstable too: the two agree, and these replicas are left out of the table above"
            " (there is no steady state to compare):" + layouts(both)
        )
    if len(lost):
        lines.append(
            f"The analytic solution finds {lost.point.nunique()} of {points} replicas unstable (its"
            " flow-equivalent capacity below the arrival rate) that the simulation serves; there it"
            " over-provisions:" + layouts(lost)
        )
    if len(missed):
        lines.append(
            f"The simulation does not keep up in {missed.point.nunique()} of {points} replicas the analytic"
            " solution finds stable (there it under-provisions; their errors are in the table):"
            + layouts(missed)
        )
    return " ".join(lines) or "Every replica the simulation serves is stable in the analytic solution too."


def report(df: pd.DataFrame, args: argparse.Namespace) -> str:
    """The Markdown section for docs/accuracy.md."""
    full = df
    unstable, behind = _verdicts(df)
    df = df[~(unstable & behind)]
    groups: list[tuple[str, pd.DataFrame]] = [("all classes", df)]
    groups += [
        (f"busiest layer offered {lo:g}-{hi:g}", df[(df.target >= lo) & (df.target < hi)])
        for lo, hi in ((0.3, 0.5), (0.5, 0.7), (0.7, 0.9))
    ]
    groups += [(f"binding layer: {b}", g) for b, g in df.groupby(df.binding.str.split(" ").str[0])]
    groups += [("event loop", df[df.event_loop]), ("processes x threads", df[~df.event_loop])]
    head = "| scope | classes |" + " {}: median | max | within 15% |" * 3
    head = head.format("mean", "p95", "p99")
    lines = [head, "| --- " + "| ---: " * 10 + "|"]
    lines += [f"| {name} | {len(g)} | " + " | ".join(_stats(g)) + " |" for name, g in groups if len(g)]
    p95 = df["err_response_p95"].abs()
    median_met, max_met = p95.median() <= 0.05, p95.max() <= 0.15
    within = f"**not met** ({100 * (p95 <= 0.15).mean():.0f}% within 15%)"
    goal = f"median {100 * p95.median():.1f}%: " + ("**met**" if median_met else "**not met**")
    goal += "; max: " + ("**met**" if max_met else within)
    lost_line = _stability_line(full)
    under_p99 = int((df["err_response_p99"] < 0).sum())
    worst = df[np.isfinite(df["err_response_p95"])].assign(a=df["err_response_p95"].abs()).nlargest(8, "a")
    worst_lines = [
        "| layout | class | offered | binding | mean | p95 | p99 |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    worst_lines += [
        f"| {r.layout} | {r['class']} | {r.target:.2f} | {r.binding} | {100 * r.err_response_mean:+.1f}% "
        f"| {100 * r.err_response_p95:+.1f}% | {100 * r.err_response_p99:+.1f}% |"
        for _, r in worst.iterrows()
    ]
    return "\n".join(
        [
            "## The layered service model",
            "",
            "How far `ServiceModel.solve()` (flow-equivalent server over mean-value analysis by population,",
            "two-moment factors on the waits, the lock's corrected for visits that come back to it, the",
            "time inside as a shifted fit of its first three moments; `capplan.layered.solve`) is from",
            "`ServiceModel.simulate()`",
            "(the same replica as a discrete-event simulation) per request class.  Generated by",
            "`benchmarks/layered_accuracy.py`; do not edit by hand (rows: `docs/layered_accuracy.csv`).",
            "",
            f"{full.point.nunique()} random replicas (seed {args.seed}): 1-3 pools (some behind PgBouncer),",
            "1-16 processes x 1-32 threads or an event loop, 1-8 cores, lock-free CPU 0-30%, CPU 10-90% of",
            "each request's time, 1-3 classes, step SCVs 0-4, the busiest layer's offered utilization",
            f"0.3-0.9; {args.customers:,} simulated arrivals per replica (10% warm-up).",
            "Relative error = (model - simulation) / simulation.",
            "",
            "### Goal: median |p95 error| <= 5%, max <= 15%: " + goal,
            "",
            *lines,
            "",
            lost_line,
            "",
            "Errors are largest where a worker pool of one or two threads runs near its capacity (the",
            "flow-equivalent capacity is a few percent off, and the wait for a worker near saturation",
            "magnifies it; with two single-thread processes on one core, under-predicted), where many",
            "threads of several processes share their locks (over-predicted: an idle thread drawn at",
            "random is more often in a process whose lock is free), and where classes of short and of",
            "long CPU bursts share a lock or a core (the simulation's waits there differ by class, the",
            "long bursts' the longer, by 18% to 2.5x in the replicas examined, and their total is",
            "over-predicted: the two-moment factor of a mixture of short and long visits is an open",
            "queue's, larger than what a replica's finite threads produce). On one core the lock and the",
            "core serialize whole CPU steps, and the solve counts them so (splitting them at the lock",
            "under-predicted those replicas by 20-40%). The time inside enters the response time as a",
            "shift plus a two-moment fit that matches its variance and third cumulant (a sum of an",
            "Erlang-like step and a hyperexponential one is far more skewed than a two-moment fit of",
            "its SCV): with a two-moment fit alone the p95 at offered 0.3-0.5 was 3.4% off at the",
            "median (91% within 15%) and the p99 9.8% (72%), the p99 under-predicted in 229 of 332",
            f"classes (now {under_p99} of {len(df)}). Workers, pools, PgBouncer, cores and event loops",
            "are within the goal's reach at the median. What these errors do to the number of",
            "replicas, and how `size_service(meet_in_simulation=True)` (the plan file's",
            "`service: {verify: N}`) takes the fleet from the simulation instead, is in the section",
            '"What the errors do to a fleet decision" below.',
            "",
            "### Where it is worst among finite errors (by |p95 error|)",
            "",
            *worst_lines,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    def rows(args: argparse.Namespace) -> pd.DataFrame:
        return pd.DataFrame(
            [row for i in range(args.points) for row in run_point(i, args.seed, args.customers)]
        )

    return study_main(
        argv,
        doc=__doc__,
        defaults=(160, 1_000_000, 20261204, "docs/layered_accuracy.csv"),
        section="layered",
        rows=rows,
        report=report,
    )


if __name__ == "__main__":
    sys.exit(main())
