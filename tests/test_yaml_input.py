"""capplan._yaml_input.load_yaml: the caps (size, nesting, aliases), duplicate keys, messages.

The hostile inputs are the ones fuzzing found: a "billion laughs" alias bomb of about 560 bytes in
an SLA file (before this reader, load_sla spent minutes building a 3 GB error message), 2,000 and
100,000 nested ``[`` (PyYAML's composer recursed into RecursionError), duplicate keys (silently the
last one kept).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

import capplan as cp
from capplan._yaml_input import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, _loader_class, load_yaml
from capplan.errors import CapplanError

DATA = Path(__file__).resolve().parents[1] / "data"
LEVELS = "abcdefghi"
FANOUT = 9


class InputError(CapplanError, ValueError):
    """Stands for a loader's error class (SLAError, ManifestError, ...)."""


def yaml_error(text: str, **kwargs: bool) -> str:
    with pytest.raises(InputError) as info:
        load_yaml(text, label="in.yaml", error=InputError, **kwargs)  # type: ignore[call-overload]
    return str(info.value)


def alias_bomb() -> str:
    """The classic "billion laughs" (9 anchors, each a list of 9 aliases of the one before: 10**9
    strings when expanded) as the ``uptime`` of an SLA file."""
    strings = ", ".join(['"lol"'] * FANOUT)
    rows = [f"      - &a [{strings}]"]
    for before, level in itertools.pairwise(LEVELS):
        rows.append(f"      - &{level} [{', '.join(['*' + before] * FANOUT)}]")
    head = (
        "# a 'billion laughs' alias bomb\nperformance_requirements:\n  availability_targets:\n    uptime:\n"
    )
    return head + "\n".join(rows) + "\n"


def crossing_alias() -> tuple[str, int, int, int]:
    """Where the expansion first passes MAX_ALIAS_NODES, worked out level by level: a list of n
    items, each expanding to s nodes, expands to 1 + n*s nodes; every alias adds its anchor's
    expanded size.  Returns (anchor, its size, aliases read, nodes added)."""
    size = 1 + FANOUT  # &a: a list of nine strings
    added = aliases = 0
    for level in LEVELS[:-1]:
        for _ in range(FANOUT):
            added += size
            aliases += 1
            if added > MAX_ALIAS_NODES:
                return level, size, aliases, added
        size = 1 + FANOUT * size
    raise AssertionError("the bomb never passes the cap")


# ---------------------------------------------------------------------------------------------
# Aliases


def test_alias_bomb_in_an_sla_file_is_refused_with_a_short_message(tmp_path: Path) -> None:
    text = alias_bomb()
    assert 500 <= len(text.encode()) <= 600  # the size of the fuzzed file
    path = tmp_path / "bomb.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(cp.SLAError) as info:
        cp.load_sla(path)
    message = str(info.value)
    anchor, size, aliases, added = crossing_alias()
    assert len(message) < 300
    assert message.startswith(f"{path}: line ")
    assert f"alias *{anchor} repeats {size:,} nodes" in message
    assert f"{aliases} aliases so far expand to {added:,} nodes" in message
    assert f"over the {MAX_ALIAS_NODES:,}" in message


def test_aliases_within_the_cap_are_read_and_shared() -> None:
    text = "base: &b {x: 1, y: [1, 2]}\nfirst: *b\nsecond:\n  <<: *b\n  x: 5\n"
    doc = load_yaml(text, label="in.yaml", error=InputError)
    assert doc["first"] == {"x": 1, "y": [1, 2]}
    assert doc["second"] == {"x": 5, "y": [1, 2]}  # a merge key, then x overridden: not a duplicate


def test_recursive_alias_is_refused() -> None:
    message = yaml_error("a: &loop [1, *loop]\n")
    assert message == (
        "in.yaml: line 1, column 14: alias *loop is inside its own anchor &loop: "
        "a recursive structure, which capplan does not read"
    )


def test_anchors_do_not_cross_documents() -> None:
    message = yaml_error("a: &x 1\n---\nb: *x\n", multi=True)
    assert "line 3" in message
    assert "undefined alias" in message


# ---------------------------------------------------------------------------------------------
# Nesting


@pytest.mark.parametrize("levels", [2_000, 100_000])
def test_deeply_nested_flow_lists_are_refused(levels: int) -> None:
    message = yaml_error("[" * levels)
    assert message.startswith("in.yaml: line 1, column ")
    assert f"nested more than {MAX_DEPTH} levels deep" in message


def test_deeply_nested_block_mappings_are_refused_at_the_first_level_too_deep() -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(2_000))
    message = yaml_error(text)
    # Key k<i> opens the mapping of level i + 1, so level MAX_DEPTH + 1 starts on line MAX_DEPTH + 1.
    assert message.startswith(f"in.yaml: line {MAX_DEPTH + 1}, column {2 * MAX_DEPTH + 1}: ")


def test_nesting_up_to_the_cap_is_read() -> None:
    doc = load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, label="in.yaml", error=InputError)
    depth = 0
    while isinstance(doc, list):
        depth += 1
        doc = doc[0] if doc else None
    assert depth == MAX_DEPTH
    assert "nested more than" in yaml_error("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


# ---------------------------------------------------------------------------------------------
# Duplicate keys


def test_duplicate_top_level_key_names_both_lines() -> None:
    message = yaml_error("a: 1\nb: 2\na: 3\n")
    assert message == (
        "in.yaml: line 3: key 'a' is given twice (lines 1 and 3); YAML would silently keep the last"
    )


def test_duplicate_nested_key_names_the_key_path() -> None:
    text = "top:\n  items:\n    - name: x\n    - {name: y, port: 1, port: 2}\n"
    message = yaml_error(text)
    assert message.startswith("in.yaml: line 4: top.items[1]: key 'port' is given twice (lines 4 and 4)")


def test_keys_equal_in_python_are_duplicates() -> None:
    # YAML 1.1 reads 1 and true as int 1 and bool True, one dict key in Python: the first would be lost.
    assert "is given twice" in yaml_error("{1: a, true: b}\n")


# ---------------------------------------------------------------------------------------------
# Syntax and value errors


def test_syntax_error_names_line_column_and_problem_without_a_snippet() -> None:
    long_value = "x" * 100_000
    message = yaml_error(f"a: {long_value}\nb: [1, 2\n")
    assert message == (
        "in.yaml: line 3, column 1: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 2)"
    )


def test_value_errors_of_the_constructor_name_the_line() -> None:
    assert (
        yaml_error("a: 1\nb: 2026-02-30\n")
        == "in.yaml: line 2, column 4: YAML error: day is out of range for month"
    )
    assert yaml_error("a: " + "1" * 5_000 + "\n").startswith(
        "in.yaml: line 1, column 4: YAML error: Exceeds the limit"
    )


def test_unsafe_tags_and_control_characters_are_refused() -> None:
    assert "could not determine a constructor" in yaml_error("a: !!python/object/apply:os.system ['true']\n")
    assert yaml_error("a: 1\nb: \x07\n").startswith("in.yaml: line 2: not YAML text: character #x0007")


# ---------------------------------------------------------------------------------------------
# Documents


def test_several_documents_say_what_they_are() -> None:
    message = yaml_error("a: 1\nb: 2\n---\n- 1\n---\n{c: 1, d: 2, e: 3, f: 4}\n")
    assert message == (
        "in.yaml: a stream of 3 YAML documents: a mapping of a, b (line 1); a list (line 3); "
        "a mapping of c, d, e, ... (line 5); expected a single YAML document"
    )


def test_multi_returns_the_documents_without_empty_ones() -> None:
    text = "---\nkind: ConfigMap\n---\n---\nkind: Deployment\n...\n"
    assert load_yaml(text, label="in.yaml", error=InputError, multi=True) == [
        {"kind": "ConfigMap"},
        {"kind": "Deployment"},
    ]
    assert load_yaml("a: 1\n---\n", label="in.yaml", error=InputError) == {"a": 1}
    assert load_yaml("# nothing\n", label="in.yaml", error=InputError) is None


def test_load_sla_on_a_configmap_and_deployment_says_what_the_file_is() -> None:
    path = DATA / "pgbouncer-configmap.yaml"
    with pytest.raises(cp.SLAError) as info:
        cp.load_sla(path)
    assert str(info.value) == (
        f"{path}: a Kubernetes manifest of 2 YAML documents: kind: ConfigMap 'pgbouncer-config' (line 2); "
        "kind: Deployment 'pgbouncer' (line 43); expected an SLA file (one YAML mapping)"
    )


# ---------------------------------------------------------------------------------------------
# Size


def test_size_cap_counts_utf8_bytes() -> None:
    message = yaml_error("#" * (MAX_BYTES + 1))
    assert message == (
        f"in.yaml: {MAX_BYTES + 1:,} bytes of YAML, more than the 4 MiB capplan reads "
        "(an input file is a few kilobytes)"
    )
    # 2 Mi characters of 3 bytes each: under the cap in characters, over it in UTF-8 bytes.
    assert f"{1 + 3 * (MAX_BYTES // 2):,} bytes of YAML" in yaml_error("#" + "€" * (MAX_BYTES // 2))


# ---------------------------------------------------------------------------------------------
# Without libyaml


@pytest.fixture
def pure_python_loader(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PyYAML without its C extension (a platform with no libyaml wheel)."""
    yaml = pytest.importorskip("yaml")
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    _loader_class.cache_clear()
    yield
    _loader_class.cache_clear()


@pytest.mark.usefixtures("pure_python_loader")
def test_the_pure_python_loader_keeps_the_caps_and_checks() -> None:
    assert _loader_class().__mro__[1].__name__ == "SafeLoader"
    anchor, size, _, _ = crossing_alias()
    assert f"alias *{anchor} repeats {size:,} nodes" in yaml_error(alias_bomb())
    # Its composer recursed; the first pass stops at the first level too deep (column 65 of `[[[...`).
    assert yaml_error("[" * 2_000) == (
        f"in.yaml: line 1, column {MAX_DEPTH + 1}: mappings and lists nested more than {MAX_DEPTH} "
        f"levels deep; capplan reads at most {MAX_DEPTH}"
    )
    assert yaml_error("a: 1\na: 2\n").startswith("in.yaml: line 2: key 'a' is given twice (lines 1 and 2)")
    assert yaml_error("a: [1, 2\n").startswith(
        "in.yaml: line 2, column 1: YAML syntax error: expected ',' or ']'"
    )
