"""Profiler traces to capacity: read py-spy and scalene profiles, per-request demand, what-if.

* Input: :func:`load_profile` reads py-spy speedscope JSON, py-spy raw collapsed stacks and
  scalene JSON into one :class:`Profile` (stacks with weights in seconds); :func:`record`
  runs the real profilers on a command.
* Models: :meth:`Profile.functions` (self/inclusive time and shares with their sampling error),
  :meth:`Profile.by_module`, :meth:`Profile.diff`, :func:`request_demand` (CPU seconds per
  request: the service time for :mod:`capplan.queueing`), :func:`what_if` (Amdahl on inclusive
  shares, then :func:`capplan.sizing.size_replicas` for the replica count).
"""

from capplan.profiles._common import ProfileError, module_of
from capplan.profiles.collapsed import PYSPY_DEFAULT_RATE, parse_collapsed
from capplan.profiles.demand import RequestDemand, request_demand
from capplan.profiles.detect import detect_format, load_profile, load_profiles
from capplan.profiles.frames import IDLE_FUNCTIONS, Frame, frame_matcher, is_idle
from capplan.profiles.model import Profile
from capplan.profiles.record import ProfilerError, ProgramFailedError, profiler_command, record
from capplan.profiles.scalene import parse_scalene
from capplan.profiles.speedscope import parse_speedscope
from capplan.profiles.tables import binomial_se
from capplan.profiles.whatif import WhatIf, amdahl_time, what_if

__all__ = [
    "IDLE_FUNCTIONS",
    "PYSPY_DEFAULT_RATE",
    "Frame",
    "Profile",
    "ProfileError",
    "ProfilerError",
    "ProgramFailedError",
    "RequestDemand",
    "WhatIf",
    "amdahl_time",
    "binomial_se",
    "detect_format",
    "frame_matcher",
    "is_idle",
    "load_profile",
    "load_profiles",
    "module_of",
    "parse_collapsed",
    "parse_scalene",
    "parse_speedscope",
    "profiler_command",
    "record",
    "request_demand",
    "what_if",
]
