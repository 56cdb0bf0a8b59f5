"""Several benchmark scripts write one Markdown page each into their own marked section."""

from __future__ import annotations

from pathlib import Path

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
