"""``capplan profile [--tool py-spy|scalene] [--out FILE] -- python app.py`` (real profilers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from capplan.cli import main
from capplan.demo import workload
from capplan.profiles import ProgramFailedError, load_profile, profiler_command, record

SCRIPT = str(Path(workload.__file__).resolve())


def test_profile_pyspy_prints_functions_and_demand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.json"
    argv = ["profile", "--rate", "200", "--out", str(out), "--requests", "200", "--within", "handle_request"]
    code = main([*argv, "--", sys.executable, SCRIPT, "--requests", "200"])
    text = capsys.readouterr().out
    assert code == 0
    assert "workload:render" in text and "CPU per request:" in text
    assert "samples inside handle_request:" in text
    # the kept file is the profile that was summarised
    p = load_profile(out)
    assert p.tool == "py-spy" and f"samples={p.total_samples:.0f}" in text


def test_scalene_command_line() -> None:
    """scalene runs the Python program itself (recorded for real in tests/test_profiles.py)."""
    script = profiler_command(["python", "app.py", "--n", "3"], "o.json", tool="scalene", rate=50.0)
    assert script[1:] == [
        "run",
        "--cpu-only",
        "-o",
        "o.json",
        "--cpu-sampling-rate",
        "0.02",
        "app.py",
        "---",
        "--n",
        "3",
    ]
    module = profiler_command(["python3", "-m", "pkg.app"], "o.json", tool="scalene")
    assert module[-2:] == ["-m", "pkg.app"]
    pyspy = profiler_command(["./server"], "o.txt", fmt="raw", rate=20.0, threads=True)
    assert pyspy[1:] == ["record", "-o", "o.txt", "-f", "raw", "-r", "20", "--threads", "--", "./server"]


def test_profile_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile"]) == 2
    assert "give the command to profile after --" in capsys.readouterr().err
    assert main(["profile", "--tool", "scalene", "--", "ls", "-l"]) == 2
    assert "scalene profiles Python programs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["profile", "--tool", "perf", "--", "python", "x.py"])


def test_existing_subcommands_still_parse(capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "performance-sla.yaml"
    assert main(["sla", str(data)]) == 0
    assert capsys.readouterr().out


def test_profile_of_a_failing_program_exits_with_its_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # py-spy record -- COMMAND exits 0 whatever the program does; capplan printed a start-up profile.
    missing = tmp_path / "missing.py"
    assert main(["profile", "--", sys.executable, str(missing)]) == 2  # python's status for no such file
    err = capsys.readouterr().err
    assert f"the profiled program '{sys.executable} {missing}' exited with status 2" in err
    assert "no profile is reported" in err
    assert main(["profile", "--", str(tmp_path / "no-such-program")]) == 127
    assert "cannot start" in capsys.readouterr().err


def test_record_raises_with_the_programs_status_after_it_ran() -> None:
    # The program runs (and is sampled) for 0.3 s, then fails: no profile, the status instead.
    program = [sys.executable, "-c", "import time; time.sleep(0.3); raise SystemExit(3)"]
    with pytest.raises(ProgramFailedError, match="exited with status 3") as info:
        record(program, quiet=True, timeout=60)
    assert info.value.returncode == 3
    killed = [
        sys.executable,
        "-c",
        "import os, signal, time; time.sleep(0.3); os.kill(os.getpid(), signal.SIGTERM)",
    ]
    with pytest.raises(ProgramFailedError, match="was killed by signal SIGTERM") as info:
        record(killed, quiet=True, timeout=60)
    assert info.value.returncode == -15


def test_scalene_reports_the_programs_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # scalene exits with the program's status: 3 after 0.3 s of work, no profile.
    script = tmp_path / "fail3.py"
    script.write_text(
        "import time\nt = time.perf_counter()\nwhile time.perf_counter() - t < 0.3:\n    pass\n"
        "raise SystemExit(3)\n"
    )
    assert main(["profile", "--tool", "scalene", "--", sys.executable, str(script)]) == 3
    assert "exited with status 3 under scalene; no profile is reported" in capsys.readouterr().err
