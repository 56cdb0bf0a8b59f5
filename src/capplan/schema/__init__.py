"""Schemas of the files users hand over: the SLA, the plan-inputs file (and its overload section
in a file of its own), the HPA manifest.

Each file kind is described once, as a pydantic model (``extra="forbid"``, every key typed, every
number bounded, units in the descriptions): the loaders validate the parsed YAML against it
(:func:`capplan.schema.validation.validate`, errors naming the file and the key path), and
``capplan schema KIND`` prints its JSON Schema for editors.  Importing this package is light:
pydantic loads with :func:`model` or the model modules.
"""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["KINDS", "json_schema", "model"]

#: ``capplan schema KIND``: the model of each file kind, ``module:class``.
KINDS = {
    "sla": "capplan.schema.sla:SLADocument",
    "plan": "capplan.schema.plan:PlanFile",
    "hpa": "capplan.schema.hpa:HPAManifest",
    "overload": "capplan.schema.overload:OverloadFile",
}


def model(kind: str) -> type[BaseModel]:
    """The model of a file kind (``sla``, ``plan``, ``hpa``, ``overload``)."""
    if kind not in KINDS:
        raise KeyError(f"no schema {kind!r}; known: {', '.join(KINDS)}")
    module, name = KINDS[kind].split(":")
    found: type[BaseModel] = getattr(importlib.import_module(module), name)
    return found


def _for_editors(node: Any) -> Any:
    """The schema as editors show it: no ``"default": null`` (an optional key is one left out, not
    a null value), and the docstrings' reStructuredText double backquotes as Markdown single ones."""
    if isinstance(node, dict):
        return {k: _for_editors(v) for k, v in node.items() if not (k == "default" and v is None)}
    if isinstance(node, list):
        return [_for_editors(v) for v in node]
    return node.replace("``", "`") if isinstance(node, str) else node


def json_schema(kind: str) -> str:
    """The JSON Schema of a file kind, as the text ``capplan schema KIND`` prints."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **_for_editors(model(kind).model_json_schema()),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
