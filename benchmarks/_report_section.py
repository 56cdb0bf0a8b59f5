"""Several benchmark scripts write one Markdown page each into their own marked section."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ACCURACY_TITLE = "# Accuracy of capplan's models against simulation"  # docs/accuracy.md


def replace_section(path: Path, name: str, text: str, *, title: str) -> None:
    """Write ``text`` between ``<!-- begin NAME -->`` and ``<!-- end NAME -->`` in ``path``,
    keeping the rest of the page; a new page starts with ``title``, a new section goes last."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    page = path.read_text() if path.exists() else f"{title}\n"
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        page = head + block + rest.split(end, 1)[1]
    else:
        page = page.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(page)


def study_main(
    argv: list[str] | None,
    *,
    doc: str | None,
    defaults: tuple[int, int, int, str],
    section: str,
    rows: Callable[[argparse.Namespace], pd.DataFrame],
    report: Callable[[pd.DataFrame, argparse.Namespace], str],
) -> int:
    """The command line of a seeded study of random points: ``--points``, ``--customers``,
    ``--seed`` and ``--csv`` (``defaults``), rows made by ``rows`` (or read back with
    ``--from-csv``), written to ``--csv``, reported by ``report``, and with ``--out`` written into
    ``OUT/accuracy.md``'s section ``section``."""
    points, customers, seed, csv = defaults
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=points)
    parser.add_argument("--customers", type=int, default=customers)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--csv", type=Path, default=Path(csv))
    parser.add_argument("--from-csv", type=Path, help="report rows written by an earlier run")
    parser.add_argument("--out", type=Path, help="write the section into OUT/accuracy.md")
    args = parser.parse_args(argv)
    if args.from_csv:
        df = pd.read_csv(args.from_csv)
    else:
        df = rows(args)
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.csv, index=False, float_format="%.6g")
    text = report(df, args)
    print(text)
    if args.out:
        replace_section(args.out / "accuracy.md", section, text, title=ACCURACY_TITLE)
    return 0
