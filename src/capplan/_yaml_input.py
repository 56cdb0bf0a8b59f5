"""The input layer's one YAML reader: every YAML file capplan reads goes through :func:`load_yaml`.

Files from users are untrusted, so before anything is built the text is checked against caps that
no real input comes near, each refused with a short message naming the file and the line:

* size: at most :data:`MAX_BYTES` (4 MiB; capplan's own inputs are kilobytes, and a Kubernetes
  ConfigMap holds at most 1 MiB);
* nesting: mappings and lists at most :data:`MAX_DEPTH` (64) deep.  PyYAML's composer recurses once
  per level, so 2,000 nested ``[`` would raise ``RecursionError``; the depth is counted in a first
  pass over the parser's events, which does not recurse and stops at the first level too deep;
* aliases: the nodes that aliases add when the document is expanded, at most
  :data:`MAX_ALIAS_NODES`.  Each anchor's expanded size is computed once, from the sizes of its
  children, so a "billion laughs" file (nine anchors of nine aliases each, 10**9 nodes expanded in
  560 bytes) is refused when the alias that crosses the cap is read, without expanding anything.
  An alias inside its own anchor (a recursive structure) is refused too.

Then the documents are built with PyYAML's safe constructor (the C parser when libyaml is there),
which here also refuses a key given twice in one mapping (YAML would keep the last one silently),
naming the key path and both lines.  YAML syntax errors become the caller's error class with the
file, line, column and problem.  A file with several documents is refused when one is expected,
saying what each document is (``kind: ConfigMap 'pgbouncer-config'`` ...).

PyYAML is imported on the first call, so ``import capplan`` does not load it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    import yaml

__all__ = ["MAX_ALIAS_NODES", "MAX_BYTES", "MAX_DEPTH", "describe_document", "load_yaml", "manifest_name"]

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
_MAX_PROBLEM_CHARS = 160


@overload
def load_yaml(
    text: str,
    *,
    label: str,
    error: Callable[[str], Exception],
    multi: Literal[False] = ...,
    what: str = ...,
) -> Any: ...
@overload
def load_yaml(
    text: str, *, label: str, error: Callable[[str], Exception], multi: Literal[True], what: str = ...
) -> list[Any]: ...
def load_yaml(
    text: str,
    *,
    label: str,
    error: Callable[[str], Exception],
    multi: bool = False,
    what: str = "a single YAML document",
) -> Any:
    """Parse untrusted YAML text; every problem raises ``error(message)`` naming ``label``.

    Parameters
    ----------
    text : str
        The file's text.
    label : str
        The file's name (or ``<text>``), the first word of every message.
    error : callable
        The caller's exception class (``SLAError``, ``PlanInputError``, ...).
    multi : bool
        False: the file must hold at most one document, which is returned (None when the file is
        empty).  True: the list of the file's documents, empty ones (``---`` alone) left out.
    what : str
        What the caller expects, for the message about a file with several documents.
    """
    import yaml  # noqa: PLC0415 - loaded on first use, not by ``import capplan``

    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise error(
            f"{label}: {size:,} bytes of YAML, more than the {MAX_BYTES // 2**20} MiB capplan reads "
            "(an input file is a few kilobytes)"
        )
    loader = _loader_class()
    try:
        starts = _check_structure(text, loader, label)
        documents = list(yaml.load_all(text, Loader=loader))
    except _RefusedError as exc:
        raise error(str(exc)) from None
    except _DuplicateKeyError as exc:
        raise error(_duplicate_message(exc, text, loader, label)) from None
    except yaml.YAMLError as exc:
        raise error(_yaml_error_message(exc, text, label)) from None
    kept = [(doc, line) for doc, line in zip(documents, starts, strict=True) if doc is not None]
    if multi:
        return [doc for doc, _ in kept]
    if len(kept) > 1:
        raise error(_several_documents(kept, label, what))
    return kept[0][0] if kept else None


class _RefusedError(Exception):
    """A cap was reached (the message is complete; :func:`load_yaml` re-raises it as ``error``)."""


# ---------------------------------------------------------------------------------------------
# The first pass: depth and alias expansion over the parser's events, without recursion


@dataclass
class _Open:
    """A mapping or list being read: its anchor and the nodes it expands to so far."""

    anchor: str | None
    size: int = 1


@dataclass
class _Expansion:
    """Expanded node counts: per anchor of the current document, and added by aliases overall."""

    label: str
    sizes: dict[str, int] = field(default_factory=dict)
    added: int = 0
    aliases: int = 0

    def alias(self, event: yaml.AliasEvent, stack: list[_Open]) -> int:
        """The expanded size of the node an alias repeats (0 for an undefined alias, which the
        composer reports); refuses a recursive alias and an expansion past the cap."""
        anchor = event.anchor
        if any(frame.anchor == anchor for frame in stack):
            raise _RefusedError(
                f"{self.label}: {_where(event.start_mark)}alias *{anchor} is inside its own anchor "
                f"&{anchor}: a recursive structure, which capplan does not read"
            )
        size = self.sizes.get(anchor, 0)  # type: ignore[arg-type]
        self.added += size
        self.aliases += 1
        if self.added > MAX_ALIAS_NODES:
            raise _RefusedError(
                f"{self.label}: {_where(event.start_mark)}alias *{anchor} repeats {size:,} nodes; "
                f"the file's {self.aliases} aliases so far expand to {self.added:,} nodes, over the "
                f"{MAX_ALIAS_NODES:,} capplan accepts (an alias bomb?)"
            )
        return size


def _check_structure(text: str, loader: type[Any], label: str) -> list[int]:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and alias expansion past
    :data:`MAX_ALIAS_NODES`; return the first line of each document."""
    import yaml  # noqa: PLC0415

    stack: list[_Open] = []
    expansion = _Expansion(label)
    starts: list[int] = []
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _RefusedError(f"{label}: {_where(event.start_mark)}{_too_deep()}")
            stack.append(_Open(event.anchor))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            node = stack.pop()
            size = node.size
            anchor = node.anchor
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            size, anchor = expansion.alias(event, stack), None
        else:
            if isinstance(event, yaml.DocumentStartEvent):
                starts.append(event.start_mark.line + 1 if event.start_mark is not None else 1)
                expansion.sizes.clear()  # anchors belong to one document
            continue
        if anchor is not None:
            expansion.sizes[anchor] = size
        if stack:
            stack[-1].size += size
    return starts


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


# ---------------------------------------------------------------------------------------------
# The loader: PyYAML's safe loader that refuses duplicate keys


class _DuplicateKeyError(Exception):
    def __init__(self, key: Any, first: Any, second: Any, mapping: Any) -> None:
        super().__init__(key)
        self.key, self.first, self.second, self.mapping = key, first, second, mapping


@functools.cache
def _loader_class() -> type[Any]:
    """The safe loader (libyaml's parser when available) with duplicate keys refused and value
    errors of the constructor (a date that does not exist, an integer of 5,000 digits) given the
    node's line."""
    import yaml  # noqa: PLC0415

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, Any] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue  # ``<<: *defaults``: later keys override the merged ones
                    key = self.construct_object(key_node)
                    if isinstance(key, Hashable):
                        if key in seen:
                            raise _DuplicateKeyError(key, seen[key], key_node.start_mark, node.start_mark)
                        seen[key] = key_node.start_mark
            result: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
            return result

        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except (ValueError, OverflowError) as exc:
                raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from None

    return Loader


# ---------------------------------------------------------------------------------------------
# Messages


def _yaml_error_message(exc: yaml.YAMLError, text: str, label: str) -> str:
    """``label: line L, column C: YAML syntax error: problem`` (short: no snippet of the text)."""
    import yaml  # noqa: PLC0415

    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return f"{label}: line {line}: not YAML text: character #x{exc.character:04x}: {exc.reason}"
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{label}: YAML error: {_short(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if "maximum nesting depth" in problem:  # libyaml's own limit, 1,000 levels
        return f"{label}: {_where(mark)}{_too_deep()}"
    syntax = isinstance(exc, yaml.scanner.ScannerError | yaml.parser.ParserError)
    kind = "YAML syntax error" if syntax else "YAML error"
    if exc.problem and exc.context and exc.context_mark is not None:
        context = f"{exc.context} at line {exc.context_mark.line + 1}"
        if not syntax:  # "found duplicate anchor; first occurrence at line 1, second occurrence"
            return f"{label}: {_where(mark)}{kind}: {_short(context)}, {_short(problem)}"
        return f"{label}: {_where(mark)}{kind}: {_short(problem)} ({_short(context)})"
    return f"{label}: {_where(mark)}{kind}: {_short(problem)}"


def _too_deep() -> str:
    return f"mappings and lists nested more than {MAX_DEPTH} levels deep; capplan reads at most {MAX_DEPTH}"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_PROBLEM_CHARS else text[: _MAX_PROBLEM_CHARS - 3] + "..."


def _duplicate_message(exc: _DuplicateKeyError, text: str, loader: type[Any], label: str) -> str:
    path = _mapping_path(text, loader, exc.mapping)
    where = f"{path}: " if path else ""
    return (
        f"{label}: line {exc.second.line + 1}: {where}key {_short(repr(exc.key))} is given twice "
        f"(lines {exc.first.line + 1} and {exc.second.line + 1}); YAML would silently keep the last"
    )


def _mapping_path(text: str, loader: type[Any], mark: Any) -> str:
    """The key path (``a.b[2].c``) of the mapping that starts at ``mark``: a second pass over the
    events, made only for this message."""
    import yaml  # noqa: PLC0415

    stack: list[list[Any]] = []  # [path, is_mapping, key_next, key_or_index]
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.DocumentStartEvent):
            stack = []
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
        elif isinstance(event, yaml.NodeEvent):
            path = _node_path(stack, event)
            if isinstance(event, yaml.MappingStartEvent):
                start = event.start_mark
                if start is not None and (start.line, start.column) == (mark.line, mark.column):
                    return ".".join(path).replace(".[", "[")
                stack.append([path, True, True, None])
            elif isinstance(event, yaml.SequenceStartEvent):
                stack.append([path, False, False, 0])
    return ""


def _node_path(stack: list[list[Any]], event: yaml.NodeEvent) -> tuple[str, ...]:
    """The path of the node ``event`` starts, advancing its parent's key or index."""
    import yaml  # noqa: PLC0415

    if not stack:
        return ()
    parent = stack[-1]
    path, is_mapping, key_next, current = parent
    if not is_mapping:
        parent[3] = current + 1
        return (*path, f"[{current}]")
    parent[2] = not key_next
    if key_next:
        parent[3] = event.value if isinstance(event, yaml.ScalarEvent) else "?"
        return (*path, "?")
    return (*path, str(current))


def _several_documents(kept: Iterable[tuple[Any, int]], label: str, what: str) -> str:
    docs = list(kept)
    described = "; ".join(f"{describe_document(doc)} (line {line})" for doc, line in docs[:5])
    more = f"; and {len(docs) - 5} more" if len(docs) > 5 else ""
    kubernetes = any(isinstance(doc, Mapping) and "kind" in doc for doc, _ in docs)
    kind = "a Kubernetes manifest of" if kubernetes else "a stream of"
    return f"{label}: {kind} {len(docs)} YAML documents: {described}{more}; expected {what}"


def manifest_name(document: Mapping[Any, Any]) -> str | None:
    """The ``metadata.name`` of a Kubernetes object (None when it has none)."""
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else None


def describe_document(document: Any) -> str:
    """``kind: ConfigMap 'pgbouncer-config'``, ``a mapping of a, b, c`` or ``a list``."""
    if isinstance(document, Mapping):
        if "kind" in document:
            name = manifest_name(document)
            named = f" {_short(repr(name))}" if name is not None else ""
            return f"kind: {_short(str(document['kind']))}{named}"
        keys = [_short(str(k)) for k in list(document)[:3]]
        return "a mapping of " + ", ".join(keys) + (", ..." if len(document) > 3 else "")
    if isinstance(document, list):
        return "a list"
    return "a string" if isinstance(document, str) else f"a {type(document).__name__}"
