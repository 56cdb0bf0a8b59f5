"""YAML for the exported files: block style, keys in the order written, multi-line strings as ``|``."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["comment_block", "dump_yaml"]


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings (PromQL expressions) as literal blocks, and every
    repeated object in full (no ``&id001`` anchors: tools and people read these files)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(document: Any) -> str:
    """One YAML document (no ``---``), block style, insertion order, wide lines."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def comment_block(lines: list[str], prefix: str = "#") -> str:
    """``lines`` as comment lines (each starting with ``prefix``), ending with a newline."""
    return "".join(f"{prefix} {line}".rstrip() + "\n" for line in lines)
