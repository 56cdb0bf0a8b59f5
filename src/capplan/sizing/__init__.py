"""Decisions: search the models for the smallest configuration that meets a target, and say why."""

from capplan.sizing.caches import CacheSizing, size_cache
from capplan.sizing.database import DatabasePoolCheck, LimitCheck, check_database_pools
from capplan.sizing.pools import PoolSizing, hikaricp_rule, size_pool
from capplan.sizing.replicas import (
    AvailabilitySizing,
    ReplicaSizing,
    replica_capacity,
    replicas_for_availability,
    size_replicas,
)
from capplan.sizing.servers import ServerSizing, size_servers

__all__ = [
    "AvailabilitySizing",
    "CacheSizing",
    "DatabasePoolCheck",
    "LimitCheck",
    "PoolSizing",
    "ReplicaSizing",
    "ServerSizing",
    "check_database_pools",
    "hikaricp_rule",
    "replica_capacity",
    "replicas_for_availability",
    "size_cache",
    "size_pool",
    "size_replicas",
    "size_servers",
]
