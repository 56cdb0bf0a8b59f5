"""Turn a pydantic ``ValidationError`` into a capplan error: one line per problem, each naming the
file and the key path, with a suggestion for a misspelt key."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["MAX_PROBLEMS", "problems", "validate"]

M = TypeVar("M", bound=BaseModel)

#: Problems listed in one error; the rest are counted.
MAX_PROBLEMS = 10

_TYPE_NOUNS = {
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def validate(
    model: type[M], data: Any, *, label: str, error: type[Exception], prefix: Sequence[str | int] = ()
) -> M:
    """``model`` validated from ``data``; a problem raises ``error`` (one line per problem,
    ``label: key.path: what is wrong``), key paths starting with ``prefix``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = problems(exc, data, model, prefix)
        more = len(lines) - MAX_PROBLEMS
        if more > 0:
            lines = [*lines[:MAX_PROBLEMS], f"... and {more} more problem{'s' if more > 1 else ''}"]
        shown = [f"{label}: {line}" if label else line for line in lines]
        raise error("\n".join(shown)) from None


def _path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _data_path(data: Any, loc: Sequence[str | int], missing: bool) -> tuple[str | int, ...]:
    """The key path of ``loc`` in ``data`` (list indices as ints, keys as text); pydantic's union
    members and tags, which are not in the data, are dropped."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, Mapping) and part in node:
            out.append(str(part))
            node = node[part]
        elif i == len(loc) - 1 and missing and isinstance(node, Mapping):
            out.append(str(part))
    return tuple(out)


def _position(data: Any, path: Sequence[str | int]) -> tuple[int, ...]:
    """Where ``path`` is in the document (index of each key in its mapping), to list problems in
    document order; a missing key sorts after its mapping's keys."""
    out: list[int] = []
    node = data
    for part in path:
        if isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part]
            continue
        keys = [str(k) for k in node] if isinstance(node, Mapping) else []
        if part not in keys:
            out.append(len(keys))
            break
        out.append(keys.index(str(part)))
        node = list(node.values())[out[-1]]
    return tuple(out)


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation allows (``Annotated`` and unions opened)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _keys_at(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The keys a mapping at ``path`` may hold, following the model's fields."""
    level: list[Any] = [model]
    for part in path:
        following: list[Any] = []
        for t in level:
            origin = typing.get_origin(t)
            if isinstance(t, type) and issubclass(t, BaseModel):
                following += [
                    a
                    for name, f in t.model_fields.items()
                    if (f.alias or name) == part
                    for a in _unwrap(f.annotation)
                ]
            elif origin in (dict, Mapping):
                following += _unwrap(typing.get_args(t)[1])
            elif origin in (list, tuple, Sequence):
                following += _unwrap(typing.get_args(t)[0])
        level = following
    keys = (
        f.alias or name
        for t in level
        if isinstance(t, type) and issubclass(t, BaseModel)
        for name, f in t.model_fields.items()
    )
    return list(dict.fromkeys(keys))


def _message(err: Any, model: type[BaseModel], path: tuple[str | int, ...]) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        allowed = _keys_at(model, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6)
        if close:
            return f"unknown key (did you mean {close[0]}?)"
        return f"unknown key; expected one of: {', '.join(allowed)}" if allowed else "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {value!r}"
    if kind in _TYPE_NOUNS:
        return f"must be {_TYPE_NOUNS[kind]}, got {value!r}"
    if kind == "too_short":
        return f"must not be empty, got {value!r}"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"key {value!r}: {message}" if err["loc"] and err["loc"][-1] == "[key]" else message


def problems(
    exc: ValidationError, data: Any, model: type[BaseModel], prefix: Sequence[str | int] = ()
) -> list[str]:
    """``key.path: what is wrong`` for each error of ``exc`` (raised validating ``data``)."""
    found: dict[tuple[str | int, ...], list[tuple[str, str]]] = {}
    for err in exc.errors(include_url=False):
        path = _data_path(data, err["loc"], err["type"] == "missing")
        found.setdefault(path, []).append((err["type"], _message(err, model, path)))
    lines = []
    for path in sorted(found, key=lambda p: _position(data, p)):
        errs = found[path]
        deeper = any(len(p) > len(path) and p[: len(path)] == path for p in found)
        kinds = [k for k, _ in errs if k in _TYPE_NOUNS]
        if deeper and len(kinds) == len(errs):
            continue  # a union member the value is not, beside the member it is
        if len(kinds) > 1 and len(kinds) == len(errs):
            nouns = " or ".join(dict.fromkeys(_TYPE_NOUNS[k] for k in kinds))
            messages = [errs[0][1].replace(_TYPE_NOUNS[kinds[0]], nouns, 1)]
        else:
            messages = list(
                dict.fromkeys(m for k, m in errs if k not in _TYPE_NOUNS or len(kinds) == len(errs))
            )
        where = _path((*prefix, *path))
        lines += [f"{where}: {m}" if where else m for m in messages]
    return lines
