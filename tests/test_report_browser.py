"""The HTML reports read in a real browser: headless Chromium with a window 1024 px wide.

Each report is copied with a script that measures every ``<table>``, ``<pre>`` and ``<img>``
(``getBoundingClientRect``) and the page (``scrollWidth``) against the viewport's width
(``document.documentElement.clientWidth``: the window less its vertical scroll bar) and writes the
results into the page as JSON; ``chromium --dump-dom`` prints the page after the load event and the
test reads them back.  The reports are the ones the bundled plans give: ``capplan plan`` on
``data/capacity-plan.yaml`` with every section (overload and a 90-day forecast), on
``data/capacity-plan-small.yaml`` with a forecast, and the report ``capplan export`` writes.

Chromium is the Debian package ``chromium`` (``make test`` installs it); without it the layout
and figure tests skip (the number format is read from the HTML text, without a browser).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import capplan as cp
from capplan.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
WINDOW = (1024, 800)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs the Debian package chromium)"
)

_MEASURE = """
<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const section = (el) => {
    for (let e = el; e; e = e.parentElement) {
      for (let p = e.previousElementSibling; p; p = p.previousElementSibling) {
        if (/^H[1-6]$/.test(p.tagName)) return p.textContent;
      }
    }
    return "";
  };
  const items = [...document.querySelectorAll("table, pre, img")].map((el) => {
    const box = el.getBoundingClientRect();
    return {
      tag: el.tagName.toLowerCase(), section: section(el), left: box.left, right: box.right,
      alt: el.getAttribute("alt"), drawn: el.tagName !== "IMG" || (el.complete && el.naturalWidth > 0),
    };
  });
  const out = document.createElement("script");
  out.type = "application/json";
  out.id = "layout-measurements";
  out.textContent = JSON.stringify({viewport: root.clientWidth, page_width: root.scrollWidth, items});
  document.body.appendChild(out);
});
</script>
"""
_RESULT = re.compile(r'<script type="application/json" id="layout-measurements">(.*?)</script>', re.S)


def measure(page: str) -> dict[str, Any]:
    """The layout of ``page`` (HTML text) in headless Chromium at :data:`WINDOW` (module docstring)."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "report.html"
        copy.write_text(page.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
        command = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={tmp}/profile"]
        command += [f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=5000"]
        done = subprocess.run(
            [*command, "--dump-dom", copy.as_uri()], capture_output=True, text=True, timeout=180, check=False
        )
    found = _RESULT.search(done.stdout)
    assert found, f"chromium wrote no measurements (exit {done.returncode}): {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(found.group(1))
    return result


class _Cells(HTMLParser):
    """The text of every ``<td>`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self._open = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._open = False

    def handle_data(self, data: str) -> None:
        if self._open:
            self.cells[-1] += data


def _plan_page(out: Path, *args: str) -> str:
    assert main(["plan", *args, "--out", str(out)]) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reports(bundled: cp.CapacityPlan, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The bundled plans' HTML reports by name."""
    tmp = tmp_path_factory.mktemp("reports")
    full = [str(DATA / "capacity-plan.yaml"), "--overload", str(DATA / "overload.yaml"), "--horizon", "90d"]
    small = [str(DATA / "capacity-plan-small.yaml"), "--horizon", "90d"]
    bundled.export(tmp / "deploy")
    return {
        "plan": _plan_page(tmp / "plan.html", *full),
        "small plan": _plan_page(tmp / "small.html", *small),
        "export": (tmp / "deploy" / "capacity-plan.html").read_text(encoding="utf-8"),
    }


@pytest.fixture(scope="module")
def layouts(reports: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {name: measure(page) for name, page in reports.items()}


NAMES = ["plan", "small plan", "export"]
FORECAST = {"plan", "small plan"}
AUTOSCALED = {"plan", "export"}


@needs_chromium
@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_wider_than_the_window(name: str, layouts: dict[str, dict[str, Any]]) -> None:
    layout = layouts[name]
    viewport = layout["viewport"]
    assert 900 < viewport <= WINDOW[0]  # the window's width, less a vertical scroll bar
    assert layout["page_width"] <= viewport, "the page scrolls sideways"
    tags = {item["tag"] for item in layout["items"]}
    assert {"table", "img"} <= tags
    wide = [
        f"{item['tag']} under {item['section']!r}: {item['left']:.0f} to {item['right']:.0f} px"
        for item in layout["items"]
        if item["left"] < 0 or item["right"] > viewport
    ]
    assert not wide, f"wider than the {viewport} px viewport: {wide}"


@needs_chromium
@pytest.mark.parametrize("name", NAMES)
def test_every_figure_is_drawn_and_its_alt_text_says_what_it_shows(
    name: str, layouts: dict[str, dict[str, Any]]
) -> None:
    images = [item for item in layouts[name]["items"] if item["tag"] == "img"]
    assert len(images) >= 4  # the classes' response-time curves and the HPA or runway figure
    for image in images:
        assert image["drawn"], f"figure under {image['section']!r} did not load"
        # "<heading>: <y quantity> against <x quantity>[; <title>]", the axes' own labels
        assert re.fullmatch(rf"{re.escape(image['section'])}: \S.* against \S.*", image["alt"]), image["alt"]
    alts = [image["alt"] for image in images]
    if name in FORECAST:
        runway = "Capacity runs out on: requests/s (busiest hour of the day) against date"
        assert any(a.startswith(runway) for a in alts)
    if name in AUTOSCALED:  # the HPA timeline has two y axes
        assert any(": replicas and p95 response time (ms) against time (hours)" in a for a in alts)


@pytest.mark.parametrize("name", NAMES)
def test_counts_print_as_whole_numbers(name: str, reports: dict[str, str]) -> None:
    parser = _Cells()
    parser.feed(reports[name])
    cells = [c.strip() for c in parser.cells]
    assert len(cells) > 100
    assert not [c for c in cells if re.fullmatch(r"-?\d+\.0+", c)]  # 23, never 23.0 or 23.000000
    assert not [c for c in cells if re.fullmatch(r"-?\d*\.\d*?0", c)]  # no trailing zeros at all
    if name in AUTOSCALED:  # the bundled plan's replicas
        assert "23" in cells and "269" in cells
