"""Sampled call stacks with their weight in seconds: what every profile reader produces.

:class:`Stacks` is a table of unique :class:`Frame` s, the distinct call stacks (root first, as
indices into that table), and per stack its thread, CPU seconds and sample count, with totals and
filters.  The tables (:mod:`capplan.profiles.tables`), per-request demand
(:mod:`capplan.profiles.demand`) and what-if (:mod:`capplan.profiles.whatif`) are computed from
these stacks, and :class:`capplan.profiles.Profile` is the same data with those as methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np

from capplan._validate import FloatArray
from capplan.profiles._common import ProfileError
from capplan.profiles.frames import Frame, frame_matcher, is_idle

__all__ = ["Stacks"]


@dataclass(frozen=True, eq=False)
class Stacks:
    """Sampled call stacks with weights in seconds: the data every profile reader produces.

    Attributes
    ----------
    frames : tuple of Frame
        Unique frames; stacks index into this table.
    stacks : tuple of tuple of int
        Distinct call stacks, root first, leaf (the executing frame) last.
    seconds : ndarray
        CPU seconds attributed to each stack.
    samples : ndarray
        Number of samples behind each stack (the basis of the sampling error).
    threads : tuple of str
        Thread label of each stack (``"all"`` when the profiler did not record threads).
    tool : str
        ``"py-spy"`` or ``"scalene"`` (or another producer of the same formats).
    source : str
        Where the profile came from (a path).
    sampling_interval : float or None
        Seconds between samples, when known (``1 / rate``).
    duration_s : float or None
        Wall-clock length of the recording, when the file states it.
    def_lines : mapping
        ``(function, file) -> line`` of the definition, when the profiler reports it (scalene).
    notes : tuple of str
        Caveats about how the file was interpreted.
    dropped_samples : float
        Samples in the file with no frame (py-spy writes them while the process exits); left
        out of every total.
    """

    frames: tuple[Frame, ...]
    stacks: tuple[tuple[int, ...], ...]
    seconds: FloatArray
    samples: FloatArray
    threads: tuple[str, ...]
    tool: str
    source: str
    sampling_interval: float | None = None
    duration_s: float | None = None
    def_lines: Mapping[tuple[str, str], int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    dropped_samples: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.stacks)
        if n == 0:
            raise ProfileError(f"{self.source}: empty profile (no samples)")
        if not (len(self.seconds) == len(self.samples) == len(self.threads) == n):
            raise ProfileError(f"{self.source}: stacks, seconds, samples and threads differ in length")
        if not (np.all(np.isfinite(self.seconds)) and np.all(self.seconds >= 0)):
            raise ProfileError(f"{self.source}: stack weights must be finite and non-negative")
        if not (np.all(np.isfinite(self.samples)) and np.all(self.samples >= 0)):
            raise ProfileError(f"{self.source}: sample counts must be finite and non-negative")
        with np.errstate(over="ignore"):
            total = float(self.seconds.sum())
        if not total > 0:
            raise ProfileError(f"{self.source}: empty profile (all stack weights are zero)")
        if not np.isfinite(total):
            raise ProfileError(f"{self.source}: the stack weights add up past the float range")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_samples(
        cls,
        entries: Iterable[tuple[str, Sequence[Frame], float, float]],
        *,
        tool: str,
        source: str,
        sampling_interval: float | None = None,
        duration_s: float | None = None,
        def_lines: Mapping[tuple[str, str], int] | None = None,
        notes: Sequence[str] = (),
        dropped_samples: float = 0.0,
    ) -> Self:
        """Build a profile from ``(thread, stack root-first, seconds, samples)`` entries.

        Identical ``(thread, stack)`` entries are merged.
        """
        index: dict[Frame, int] = {}
        merged: dict[tuple[str, tuple[int, ...]], list[float]] = {}
        for thread, stack, seconds, samples in entries:
            key = (thread, tuple(index.setdefault(f, len(index)) for f in stack))
            slot = merged.setdefault(key, [0.0, 0.0])
            slot[0] += seconds
            slot[1] += samples
        keys = list(merged)
        return cls(
            frames=tuple(index),
            stacks=tuple(k[1] for k in keys),
            seconds=np.array([merged[k][0] for k in keys], dtype=np.float64),
            samples=np.array([merged[k][1] for k in keys], dtype=np.float64),
            threads=tuple(k[0] for k in keys),
            tool=tool,
            source=source,
            sampling_interval=sampling_interval,
            duration_s=duration_s,
            def_lines=dict(def_lines or {}),
            notes=tuple(notes),
            dropped_samples=dropped_samples,
        )

    def _subset(self, keep: Sequence[int], stacks: Sequence[tuple[int, ...]] | None = None) -> Self:
        idx = np.asarray(keep, dtype=np.intp)
        chosen = [self.stacks[i] for i in keep] if stacks is None else list(stacks)
        entries = (
            (self.threads[i], [self.frames[j] for j in st], float(self.seconds[i]), float(self.samples[i]))
            for i, st in zip(idx, chosen, strict=True)
        )
        if len(idx) == 0:
            raise ProfileError(f"{self.source}: the filter leaves no samples")
        return type(self).from_samples(
            entries,
            tool=self.tool,
            source=self.source,
            sampling_interval=self.sampling_interval,
            duration_s=self.duration_s,
            def_lines=self.def_lines,
            notes=self.notes,
            dropped_samples=self.dropped_samples,
        )

    # -- totals ---------------------------------------------------------------------------------
    @property
    def total_s(self) -> float:
        """CPU seconds in the profile (the denominator of every share)."""
        return float(self.seconds.sum())

    @property
    def total_samples(self) -> float:
        """Number of samples in the profile."""
        return float(self.samples.sum())

    @property
    def thread_names(self) -> tuple[str, ...]:
        """Thread labels present, sorted."""
        return tuple(sorted(set(self.threads)))

    @property
    def sampling_rate(self) -> float | None:
        """Samples per second, when known."""
        return None if self.sampling_interval is None else 1.0 / self.sampling_interval

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tool={self.tool!r}, source={Path(self.source).name!r}, "
            f"stacks={len(self.stacks)}, "
            f"samples={self.total_samples:.0f}, seconds={self.total_s:.3f}, "
            f"threads={len(self.thread_names)})"
        )

    # -- filters --------------------------------------------------------------------------------
    def filter(
        self,
        *,
        threads: str | Iterable[str] | None = None,
        idle: bool = True,
        within: str | None = None,
        paths: str | Iterable[str] | None = None,
        hide_paths: str | Iterable[str] | None = None,
        native: bool = True,
    ) -> Self:
        """A new profile with only the samples (and frames) asked for.

        Parameters
        ----------
        threads : str or iterable of str, optional
            Keep these threads: a full label (``"MainThread (4354)"``), a thread name, or a
            process (``"process 1171"``, from py-spy ``--subprocesses``).
        idle : bool
            ``False`` drops samples whose leaf frame is waiting (:data:`IDLE_FUNCTIONS`: blocked
            in ``threading``, ``selectors``, ``socket``, ``queue``... or a blocking system call).
        within : str, optional
            Keep samples whose stack passes through this function (``"module:function"``),
            e.g. the request handler: startup and imports drop out.
        paths : str or iterable of str, optional
            Keep samples with at least one frame whose file starts with one of these prefixes.
        hide_paths : str or iterable of str, optional
            Remove frames whose file starts with these prefixes; their time becomes the
            caller's self time (a stack left empty is dropped).
        native : bool
            ``False`` removes native frames the same way.
        """
        wanted = _as_set(threads)
        keep_prefix = tuple(_as_set(paths) or ())
        hide_prefix = tuple(_as_set(hide_paths) or ())
        inside = frame_matcher(within) if within is not None else None
        keep: list[int] = []
        new_stacks: list[tuple[int, ...]] = []
        for i, stack in enumerate(self.stacks):
            frames = [self.frames[j] for j in stack]
            if wanted is not None and not _thread_matches(self.threads[i], wanted):
                continue
            if not idle and is_idle(frames[-1]):
                continue
            if inside is not None and not any(inside(f) for f in frames):
                continue
            if keep_prefix and not any(f.file.startswith(keep_prefix) for f in frames):
                continue
            trimmed = tuple(
                j
                for j, f in zip(stack, frames, strict=True)
                if not (hide_prefix and f.file.startswith(hide_prefix)) and (native or not f.native)
            )
            if not trimmed:
                continue
            keep.append(i)
            new_stacks.append(trimmed)
        return self._subset(keep, new_stacks)


def _as_set(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    return set(value)


def _thread_matches(label: str, wanted: set[str]) -> bool:
    """``"process 7/MainThread (9)"`` matches itself, ``"MainThread (9)"``, ``"MainThread"`` and
    ``"process 7"``."""
    process, _, thread = label.rpartition("/")
    return bool({label, thread, thread.split(" (", 1)[0], process} & wanted)
