"""Binary and non-UTF-8 files handed to any loader: a capplan error that names the file.

Before, ``capplan plan binary.yaml`` said only "'utf-8' codec can't decode byte 0xa5 in
position 23" (the plan file, the overload file and ``check --measured`` read the file
themselves, outside the readers' shared path reader).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capplan import load_sla
from capplan.autoscale import from_csv, load_hpa
from capplan.cli import main
from capplan.dbconfig import load_pgbouncer, load_postgresql_conf
from capplan.errors import CapplanError
from capplan.measurements import count_keys, read_latency_csv, read_locust_stats
from capplan.measurements.k6 import read_k6_summary
from capplan.plan.inputs import load_plan_inputs
from capplan.plan.overload_settings import load_overload
from capplan.profiles import load_profile

SLA = str(Path(__file__).resolve().parents[1] / "data" / "performance-sla.yaml")

#: A Latin-1 plan file (0xa5 is the yen sign there, invalid as a UTF-8 start byte) and bytes that
#: are no text at all: a PNG signature with a zero and a 0xff.
CONTENTS = {
    "latin1": "capacity_plan:\n  sla: preis-¥.yaml\n".encode("latin-1"),
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
}

LOADERS: dict[str, Callable[[Path], Any]] = {
    "plan inputs": load_plan_inputs,
    "overload": load_overload,
    "sla": load_sla,
    "hpa": load_hpa,
    "locust": read_locust_stats,
    "latency csv": read_latency_csv,
    "k6 summary": read_k6_summary,
    "profile": load_profile,
    "pgbouncer": load_pgbouncer,
    "postgresql": load_postgresql_conf,
    "traffic csv": from_csv,
    "access trace": count_keys,
}


@pytest.mark.parametrize("content", sorted(CONTENTS))
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_names_a_non_utf8_file(tmp_path: Path, loader: str, content: str) -> None:
    path = tmp_path / "input.bin"
    path.write_bytes(CONTENTS[content])
    with pytest.raises(CapplanError) as info:
        LOADERS[loader](path)
    assert isinstance(info.value, ValueError)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "{path}"],
        ["check", "{path}"],
        ["check", SLA, "--measured", "critical_operations={path}"],
        ["plan", SLA, "--loadtest", "critical_operations={path}", "--mix", "critical_operations=20%"],
    ],
)
def test_cli_names_a_non_utf8_file(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(CONTENTS["latin1"])
    assert main([a.format(path=path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"capplan: error: {path}: line 2: not UTF-8 text (byte 0xa5")
