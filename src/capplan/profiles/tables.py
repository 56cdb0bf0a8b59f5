"""Function, module and difference tables computed from a profile's stacks.

Self time of a function is the weight of the samples where it is the leaf (executing) frame;
inclusive time is the weight of the samples where it appears anywhere on the stack, counted once
per sample even under recursion. Shares are fractions of the profile's total.

The sampling error of a share :math:`p` estimated from :math:`n` samples is the binomial
standard error :math:`\\sqrt{p(1-p)/n}` (each sample lands in the function with probability
:math:`p`; Graham, Kessler & McKusick, "gprof: a call graph execution profiler", SIGPLAN 1982,
discuss the statistical nature of sampled profiles). It treats samples as independent draws;
when a program runs in phases longer than the sampling interval consecutive samples are
correlated and the real uncertainty is larger, so read it as a lower bound.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from capplan.profiles.stacks import Stacks

__all__ = ["binomial_se", "diff_table", "function_table", "module_table"]

FUNCTION_COLUMNS = [
    "function",
    "file",
    "line",
    "module",
    "self_s",
    "inclusive_s",
    "self_share",
    "inclusive_share",
    "self_share_se",
    "inclusive_share_se",
    "self_samples",
    "inclusive_samples",
]


def binomial_se(share: np.ndarray | pd.Series, samples: float) -> np.ndarray:
    """Standard error :math:`\\sqrt{p(1-p)/n}` of shares ``p`` estimated from ``n`` samples."""
    p = np.clip(np.asarray(share, dtype=np.float64), 0.0, 1.0)
    if not samples > 0:
        return np.full_like(p, np.inf)
    out: np.ndarray = np.sqrt(p * (1.0 - p) / samples)
    return out


def _accumulate(
    profile: Stacks, key_of: list[tuple[str, str]]
) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], int | None]]:
    """``key -> [self_s, inclusive_s, self_samples, inclusive_samples]`` and the lowest line."""
    acc: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    lines: dict[tuple[str, str], int | None] = {}
    for j, frame in enumerate(profile.frames):
        key = key_of[j]
        line = frame.line
        old = lines.get(key)
        lines[key] = line if old is None else (old if line is None else min(old, line))
    for stack, sec, n in zip(profile.stacks, profile.seconds, profile.samples, strict=True):
        leaf = acc[key_of[stack[-1]]]
        leaf[0] += sec
        leaf[2] += n
        for key in {key_of[j] for j in stack}:
            slot = acc[key]
            slot[1] += sec
            slot[3] += n
    return acc, lines


def function_table(profile: Stacks) -> pd.DataFrame:
    """Per function ``(function, file)``: see :meth:`capplan.profiles.Profile.functions`.

    ``line`` is the definition line when the profiler reports it (scalene), else the lowest line
    sampled in the function (py-spy records the executing line, not the ``def``).
    """
    key_of = [(f.function, f.file) for f in profile.frames]
    acc, lines = _accumulate(profile, key_of)
    modules = {key_of[j]: f.module for j, f in enumerate(profile.frames)}
    total_s, total_n = profile.total_s, profile.total_samples
    rows = []
    for (function, file), (self_s, incl_s, self_n, incl_n) in acc.items():
        line = profile.def_lines.get((function, file), lines.get((function, file)))
        rows.append(
            {
                "function": function,
                "file": file,
                "line": pd.NA if line is None else int(line),
                "module": modules[(function, file)],
                "self_s": self_s,
                "inclusive_s": incl_s,
                "self_share": self_s / total_s,
                "inclusive_share": incl_s / total_s,
                "self_samples": self_n,
                "inclusive_samples": incl_n,
            }
        )
    frame = pd.DataFrame(rows)
    frame["line"] = frame["line"].astype("Int64")
    frame["self_share_se"] = binomial_se(frame["self_share"], total_n)
    frame["inclusive_share_se"] = binomial_se(frame["inclusive_share"], total_n)
    frame = frame.sort_values(
        ["inclusive_s", "self_s", "function", "file"], ascending=[False, False, True, True], kind="stable"
    )
    return frame[FUNCTION_COLUMNS].reset_index(drop=True)


def module_table(profile: Stacks) -> pd.DataFrame:
    """Per module: ``module, self_s, inclusive_s, self_share, inclusive_share`` and their errors."""
    key_of = [(f.module, "") for f in profile.frames]
    acc, _ = _accumulate(profile, key_of)
    total_s, total_n = profile.total_s, profile.total_samples
    frame = pd.DataFrame(
        [
            {"module": mod, "self_s": v[0], "inclusive_s": v[1], "self_samples": v[2]}
            for (mod, _), v in acc.items()
        ]
    )
    frame["self_share"] = frame["self_s"] / total_s
    frame["inclusive_share"] = frame["inclusive_s"] / total_s
    frame["self_share_se"] = binomial_se(frame["self_share"], total_n)
    frame["inclusive_share_se"] = binomial_se(frame["inclusive_share"], total_n)
    frame = frame.sort_values(["inclusive_s", "self_s", "module"], ascending=[False, False, True])
    return frame.reset_index(drop=True)


def _by_name(profile: Stacks) -> pd.DataFrame:
    """Shares keyed by ``(last module component, function)``, so that tools line up.

    py-spy names files relative to whichever ``sys.path`` entry matched
    (``capplan/demo/workload.py`` or ``workload.py`` for the same script) and scalene by
    absolute path; the module's last component is what they share.
    """
    table = function_table(profile)
    table["short"] = table["module"].str.rsplit(".", n=1).str[-1]
    grouped = table.groupby(["short", "function"], sort=False)
    out = grouped[["self_share", "inclusive_share"]].sum()
    out["module"] = grouped["module"].first()
    return out


def diff_table(a: Stacks, b: Stacks) -> pd.DataFrame:
    """Shares of ``a`` against ``b`` per function, largest change first.

    Functions are matched by name and the last component of their module (see ``_by_name``).

    Columns ``module, function, self_share_a, self_share_b, inclusive_share_a,
    inclusive_share_b, self_share_delta, inclusive_share_delta, z``; a function missing from one
    profile has share 0 there. ``z`` is the inclusive-share change over its binomial standard
    error, :math:`(p_b-p_a)/\\sqrt{p_a(1-p_a)/n_a + p_b(1-p_b)/n_b}`; :math:`|z| > 2` is a change
    the sampling noise alone rarely produces.
    """
    left, right = _by_name(a), _by_name(b)
    joined = left.add_suffix("_a").join(right.add_suffix("_b"), how="outer")
    joined["module"] = joined["module_a"].fillna(joined["module_b"])
    shares = [c for c in joined.columns if c.startswith(("self_share", "inclusive_share"))]
    joined[shares] = joined[shares].fillna(0.0)
    out = joined.reset_index()
    out["self_share_delta"] = out["self_share_b"] - out["self_share_a"]
    out["inclusive_share_delta"] = out["inclusive_share_b"] - out["inclusive_share_a"]
    var = (
        binomial_se(out["inclusive_share_a"], a.total_samples) ** 2
        + binomial_se(out["inclusive_share_b"], b.total_samples) ** 2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, out["inclusive_share_delta"] / np.sqrt(var), 0.0)
    out["z"] = z
    order = out["inclusive_share_delta"].abs().sort_values(ascending=False, kind="stable").index
    columns = [
        "module",
        "function",
        "self_share_a",
        "self_share_b",
        "inclusive_share_a",
        "inclusive_share_b",
        "self_share_delta",
        "inclusive_share_delta",
        "z",
    ]
    return out.loc[order, columns].reset_index(drop=True)
