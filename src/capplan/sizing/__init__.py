"""Decisions: search the models for the smallest configuration that meets a target, and say why."""

from capplan.sizing.servers import ServerSizing, size_servers

__all__ = ["ServerSizing", "size_servers"]
