"""DataFrames as HTML tables for the reports, made to fit a page 1024 px wide.

Numbers print as the reports print them (whole numbers without decimals: a count reads 23, not
23.000000 or 23.0; others to six significant digits; missing values as "-") and sit right-aligned;
text sits left-aligned and wraps: at spaces, and after "_", "." and "/" in a column name
(``attempt_timeout_probability``) or in a word of more than 20 characters (a file path), never
inside a date.  A frame's default 0, 1, 2, ... index is left out, and a named index's name heads
its column in the header row rather than in a row of its own.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

__all__ = ["TABLE_CSS", "html_table", "number_text"]

#: Style for the tables :func:`html_table` writes (text cells carry ``class="text"``).
TABLE_CSS = """
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; }
thead th { vertical-align: bottom; }
.text { text-align: left; }
time { white-space: nowrap; }
"""

_BREAK = re.compile(r"([_/]|(?<!\d)\.)(?=\w)")
_LONG_WORD = re.compile(r"\S{21,}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def number_text(value: float) -> str:
    """A float for a table cell: whole numbers without decimals, others to six significant digits."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value)}"
    return f"{value:.6g}"


def _is_missing(value: object) -> bool:
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return value is None or value is pd.NA or value is pd.NaT


def _is_number(value: object) -> bool:
    """A number to print as one (not a bool, not missing)."""
    numbers = (int, float, np.integer, np.floating)
    return isinstance(value, numbers) and not isinstance(value, (bool, np.bool_)) and not _is_missing(value)


def _wrappable(text: str, *, header: bool = False) -> str:
    """``text`` escaped, with break opportunities after "_", "." and "/" in a header or in a word
    of more than 20 characters (a file path), and dates kept on one line."""

    def soften(word: re.Match[str]) -> str:
        return _BREAK.sub(r"\1<wbr>", word[0])

    out = html.escape(text)
    out = _BREAK.sub(r"\1<wbr>", out) if header else _LONG_WORD.sub(soften, out)
    return _DATE.sub(lambda m: f'<time datetime="{m[0]}">{m[0]}</time>', out)


def _cell(value: object, tag: str = "td") -> str:
    if _is_missing(value):
        return f"<{tag}>-</{tag}>"
    if isinstance(value, (float, np.floating)):
        return f"<{tag}>{number_text(float(value))}</{tag}>"
    if _is_number(value):
        return f"<{tag}>{value}</{tag}>"
    return f'<{tag} class="text">{_wrappable(str(value))}</{tag}>'


def _header(name: object, numeric: bool) -> str:
    text = "" if _is_missing(name) else _wrappable(str(name), header=True)
    return f"<th>{text}</th>" if numeric else f'<th class="text">{text}</th>'


def _label(key: object) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _default_index(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.name is None and index.start == 0 and index.step == 1


def html_table(frame: pd.DataFrame, *, index: bool = True) -> str:
    """``frame`` as an HTML table (module docstring); ``index=False`` leaves the index out."""
    show_index = index and not _default_index(frame.index)
    numeric = [any(map(_is_number, frame.iloc[:, i])) for i in range(frame.shape[1])]
    head = [_header(_label(c), n) for c, n in zip(frame.columns, numeric, strict=True)]
    if show_index:
        names = [n for n in frame.index.names if n is not None]
        head.insert(0, _header(" / ".join(map(str, names)) if names else None, numeric=False))
    rows = []
    for key, values in zip(frame.index, frame.itertuples(index=False, name=None), strict=True):
        cells = [_cell(v) for v in values]
        if show_index:
            cells.insert(0, _cell(_label(key), "th"))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table>\n<thead><tr>"
        + "".join(head)
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )
