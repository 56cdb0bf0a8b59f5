"""Locust load shape for ``scripts/record_loadtest.py``: closed-loop users, no think time, in steps.

Each user sends ``GET /work?id=N`` back to back (``wait_time = constant(0)``), so the number of
users is the concurrency N of the Universal Scalability Law.  :class:`Steps` holds each user count
for ``STAGE_SECONDS``; the counts come from the ``CAPPLAN_USERS`` environment variable
(comma-separated) and the stage length from ``CAPPLAN_STAGE_SECONDS``.
"""

from __future__ import annotations

import itertools
import os

from locust import LoadTestShape, constant, task
from locust.contrib.fasthttp import FastHttpUser

USERS = [int(x) for x in os.environ.get("CAPPLAN_USERS", "1,2,4,8").split(",")]
STAGE_SECONDS = float(os.environ.get("CAPPLAN_STAGE_SECONDS", "15"))
_ids = itertools.count()


class DemoUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def work(self) -> None:
        self.client.get(f"/work?id={next(_ids) % 1000}", name="/work")


class Steps(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        stage = int(self.get_run_time() // STAGE_SECONDS)
        if stage >= len(USERS):
            return None
        return USERS[stage], 1000.0
