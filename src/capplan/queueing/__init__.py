"""Queueing models: exact Erlang B/C, M/M/c, M/M/c/K, and the M/G/1 and G/G/c approximations.

All rates are per second, all times in seconds; every function and model broadcasts over numpy
arrays.  Each model carries a ``method`` string: ``"exact"`` or the approximation it uses.
"""

from capplan.queueing._base import QueueModel
from capplan.queueing.erlang import erlang_b, erlang_c, log_erlang_b, log_erlang_c
from capplan.queueing.ggc import GGc
from capplan.queueing.mg1 import MG1
from capplan.queueing.mmc import MMc
from capplan.queueing.mmck import MMcK
from capplan.queueing.select import queue_model

__all__ = [
    "MG1",
    "GGc",
    "MMc",
    "MMcK",
    "QueueModel",
    "erlang_b",
    "erlang_c",
    "log_erlang_b",
    "log_erlang_c",
    "queue_model",
]
