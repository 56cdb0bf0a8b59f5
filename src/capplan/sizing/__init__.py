"""Decisions: search the models for the smallest configuration that meets a target, and say why."""

from capplan.sizing.pools import PoolSizing, hikaricp_rule, size_pool
from capplan.sizing.replicas import (
    AvailabilitySizing,
    ReplicaSizing,
    replicas_for_availability,
    size_replicas,
)
from capplan.sizing.servers import ServerSizing, size_servers

__all__ = [
    "AvailabilitySizing",
    "PoolSizing",
    "ReplicaSizing",
    "ServerSizing",
    "hikaricp_rule",
    "replicas_for_availability",
    "size_pool",
    "size_replicas",
    "size_servers",
]
