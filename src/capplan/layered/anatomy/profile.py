"""Split each request class's wall-clock time in a py-spy ``--idle`` profile into CPU and waits.

A profile recorded with ``py-spy record --idle`` samples every thread at a fixed wall-clock
interval whether it runs or waits, so the samples inside a class's entry function (its request
handler) add up to the time its requests spent in that function; classifying each sample by what
its innermost frames do (:class:`~capplan.layered.anatomy.resources.Classifier`) splits that time
into CPU, pool holds, downstream waits and lock queueing.  With ``requests`` per class, part
seconds over requests are the mean seconds per request of each part: the service demands of the
steps (Denning & Buzen, "The operational analysis of queueing network models", Computing Surveys
10(3), 1978, §3, service demand :math:`D = B/C`).  A share estimated from :math:`n` samples has
the binomial standard error :math:`\\sqrt{p(1-p)/n}`.

Record with ``--native`` as well: without native frames a C call made directly from Python code
(``time.sleep``, ``sock.recv``, ``lock.acquire``, psycopg2's ``execute``) shows only its Python
caller's line, which cannot be told from CPU work on that line, so it counts as CPU.  A thread
that is runnable but waiting for a core is sampled as CPU.  An event loop awaits outside the
handler's frames (the loop's thread is in ``selectors`` with no coroutine on its stack), so a
coroutine's awaits are not charged to its class; only blocking calls inside a handler are.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

from capplan.errors import ParameterError
from capplan.layered.anatomy.resources import Classifier, Resource
from capplan.layered.anatomy.result import Anatomy, AnatomyWarning
from capplan.profiles import Frame, Profile, ProfileError, frame_matcher, load_profile

__all__ = ["anatomy_from_profile"]


Entry = tuple[str, str, Callable[[Frame], bool]]


def _entries(classes: Mapping[str, str]) -> list[Entry]:
    if not isinstance(classes, Mapping) or not classes:
        raise ParameterError(
            f"classes must map entry functions to class names, e.g. {{'handle_checkout': 'critical'}}, "
            f"got {classes!r}"
        )
    for key, name in classes.items():
        if not isinstance(name, str) or not name:
            raise ParameterError(f"classes[{key!r}] must be a non-empty class name, got {name!r}")
    return [(key, name, frame_matcher(key)) for key, name in classes.items()]


def _class_of(stack: list[Frame], entries: list[Entry], hits: set[str]) -> str | None:
    """The class of the outermost frame matching an entry key (the request's entry point)."""
    for frame in stack:
        for key, name, matches in entries:
            if matches(frame):
                hits.add(key)
                return name
    return None


Tally = dict[tuple[str, Resource], float]


def _tally(
    prof: Profile, entries: list[Entry], classifier: Classifier
) -> tuple[Tally, Tally, set[str], float]:
    """Seconds and samples per ``(class, resource)``, the entry keys seen, and the seconds under
    no entry."""
    seconds: Tally = defaultdict(float)
    samples: Tally = defaultdict(float)
    hits: set[str] = set()
    unattributed = 0.0
    for i, idx in enumerate(prof.stacks):
        stack = [prof.frames[j] for j in idx]
        name = _class_of(stack, entries, hits)
        if name is None:
            unattributed += float(prof.seconds[i])
            continue
        part = (name, classifier.classify(stack))
        seconds[part] += float(prof.seconds[i])
        samples[part] += float(prof.samples[i])
    return seconds, samples, hits, unattributed


def anatomy_from_profile(
    profile: Profile | str | Path,
    classes: Mapping[str, str],
    *,
    requests: Mapping[str, float],
    resources: Mapping[str, Resource | str] | None = None,
    defaults: bool = True,
    rate: float | None = None,
) -> Anatomy:
    """Per class, the CPU and wait parts of a request's time, from a py-spy ``--idle`` profile.

    Parameters
    ----------
    profile : Profile or path
        A py-spy recording made with ``--idle`` (and preferably ``--native``), speedscope or raw.
    classes : mapping of str to str
        Entry function key (``"handle_checkout"``, ``"app.views:checkout"``) to class name; a
        sample belongs to the class of the outermost entry on its stack; samples under no entry
        (server loops, idle pool threads, start-up) are left out and reported as ``unattributed_s``.
    requests : mapping of str to float
        Requests of each class completed during the recording (e.g. a rate times the recording's
        length), for the seconds per request.
    resources : mapping, optional
        Extra ``module`` / ``module:function`` keys to resources (``"hold:db"``, ``"wait:cache"``),
        checked before the defaults (:data:`~capplan.layered.anatomy.resources.LIBRARIES`).
    defaults : bool
        ``False`` uses only ``resources``.
    rate : float, optional
        Samples per second of a raw (collapsed) file; see :func:`capplan.profiles.load_profile`.

    Raises
    ------
    ProfileError
        A scalene profile (CPU only), an entry key that matches no frame in the file, a class with
        no samples.  Warns (:class:`AnatomyWarning`) when no sample waits at all: a profile
        recorded without ``--idle`` holds only CPU samples.
    """
    prof = profile if isinstance(profile, Profile) else load_profile(profile, rate=rate)
    if prof.tool != "py-spy":
        raise ProfileError(
            f"{prof.source}: a {prof.tool} profile holds CPU samples only; the anatomy needs a py-spy "
            "wall-clock profile (py-spy record --idle --native); use cpu_split() for scalene"
        )
    entries = _entries(classes)
    seconds, samples, hits, unattributed = _tally(prof, entries, Classifier(resources, defaults=defaults))
    missing = [k for k, _, _ in entries if k not in hits]
    if missing:
        raise ProfileError(
            f"{prof.source}: no sample passes through {', '.join(map(repr, missing))} "
            f"(classes keys); check the entry function names against the profile's functions"
        )
    notes = list(prof.notes)
    if not any(r.kind != "cpu" for _, r in seconds):
        warnings.warn(
            f"{prof.source}: no sample inside a class is waiting: if it was recorded without "
            "py-spy --idle, waits are missing and the whole time counts as CPU",
            AnatomyWarning,
            stacklevel=2,
        )
        notes.append("no waiting samples inside the classes (recorded without --idle?)")
    if not any(f.native for f in prof.frames):
        notes.append(
            "no native frames (record with --native): C calls made from Python code (time.sleep, "
            "socket recv, lock acquire) count as CPU"
        )
    return Anatomy.build(
        seconds,
        samples,
        requests=requests,
        classes=list(dict.fromkeys(n for _, n, _ in entries)),
        source=prof.source,
        unattributed_s=unattributed,
        notes=notes,
    )
