"""Record the bundled profiles in ``data/profiles/`` with the real profilers.

Each file is a profile of the demo workload, run as a script
(``python src/capplan/demo/workload.py --requests N``: it imports only the standard library,
so the profile holds the requests and little else), recorded by
:func:`capplan.profiles.record`:

=================================  ========================================================
``demo_pyspy.speedscope.json``     py-spy ``-f speedscope`` (rate 200/s), 2000 requests
``demo_pyspy_threads.txt``         py-spy ``-f raw --threads`` (rate 200/s), 2000 requests
``demo_scalene.json``              scalene ``run --cpu-only`` (interval 0.005 s), 2000 requests
``demo_pyspy_render_x2.speedscope.json``  py-spy speedscope, 2000 requests with ``render``
                                   slowed 2x (``--slow render=2``): the measured "after"
``manifest.json``                  per file: tool, format, command, requests, rate, slowdown,
                                   the serving loop's own CPU and wall seconds (the workload's
                                   ``--cpu-report``, under the profiler), profiler versions
=================================  ========================================================

Run from the repository root (py-spy needs ptrace rights, e.g. root)::

    .venv/bin/python scripts/record_profiles.py [--requests 2000] [--out data/profiles]

Profiles are measurements: a re-run gives slightly different sample counts (the machine,
the profilers' timing) but the same structure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import capplan.demo.workload
from capplan.profiles import load_profile, record

RATE = 200.0


def _version(tool: str) -> str:
    exe = Path(sys.executable).parent / tool
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests served per recording")
    parser.add_argument("--out", type=Path, default=Path("data/profiles"), help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    n = args.requests
    script = Path(capplan.demo.workload.__file__).resolve()
    with contextlib.suppress(ValueError):  # outside the checkout: keep the absolute path
        script = script.relative_to(Path.cwd())
    workload = [sys.executable, str(script), "--requests", str(n)]
    runs = [
        ("demo_pyspy.speedscope.json", "py-spy", "speedscope", [], False),
        ("demo_pyspy_threads.txt", "py-spy", "raw", [], True),
        ("demo_scalene.json", "scalene", "scalene", [], False),
        ("demo_pyspy_render_x2.speedscope.json", "py-spy", "speedscope", ["--slow", "render=2"], False),
    ]
    files: dict[str, dict[str, object]] = {}
    manifest: dict[str, object] = {
        "workload": "python src/capplan/demo/workload.py --requests N [--slow NAME=FACTOR]",
        "versions": {"py-spy": _version("py-spy"), "scalene": _version("scalene")},
        "files": files,
    }
    for name, tool, fmt, extra, threads in runs:
        path = args.out / name
        report = Path(tempfile.mkdtemp()) / "cpu.json"
        command = [*workload, *extra, "--cpu-report", str(report)]
        record(
            command,
            tool="py-spy" if tool == "py-spy" else "scalene",
            out=path,
            fmt="raw" if fmt == "raw" else "speedscope",
            rate=RATE,
            threads=threads,
            quiet=True,
        )
        profile = load_profile(path, rate=RATE if fmt == "raw" else None)
        measured = json.loads(report.read_text())
        report.unlink()
        report.parent.rmdir()
        files[name] = {
            "tool": tool,
            "format": fmt,
            "command": ["python", *command[1:-2]],
            "serving_cpu_s": measured["cpu_s"],
            "serving_wall_s": measured["wall_s"],
            "requests": n,
            "rate_per_s": RATE,
            "slowdown": dict(item.split("=") for item in extra[1:]) if extra else {},
        }
        print(f"{name}: {profile!r}, {path.stat().st_size / 1024:.0f} KiB")
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
