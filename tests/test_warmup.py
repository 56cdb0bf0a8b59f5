"""``python -m capplan.warmup`` (run by ``make install``) compiles every kernel the bundled plan
uses: after it, the plan compiles nothing, so its first run after install is a warm one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cache_files(cache: Path) -> set[str]:
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_the_bundled_plan_compiles_nothing_after_the_warmup(tmp_path: Path) -> None:
    cache = tmp_path / "numba-cache"
    env = os.environ | {"NUMBA_CACHE_DIR": str(cache), "MPLBACKEND": "Agg"}
    warm = subprocess.run(
        [sys.executable, "-m", "capplan.warmup"], env=env, capture_output=True, text=True, check=True
    )
    assert "compiled the autoscaling kernels" in warm.stdout
    compiled = _cache_files(cache)
    assert any("_ttl_kernel.tier_pass" in f for f in compiled)
    assert any("_kernel.run" in f for f in compiled)
    plan = [str(Path(sys.executable).parent / "capplan"), "plan", "data/capacity-plan.yaml"]
    plan += ["--out", str(tmp_path / "r.html")]
    subprocess.run(plan, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert _cache_files(cache) == compiled  # nothing new: every kernel was already there
