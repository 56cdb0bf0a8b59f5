"""A request class that queries a real PostgreSQL through psycopg, for capplan.layered.anatomy.

``handle_order``: a CPU loop of ``CPU_ORDER`` s (wall clock), then ``SELECT pg_sleep(DB_SLEEP)``
on the connection string given as the first argument.  Each phase is timed in-process (wall and
thread clock, as in ``app.py``, whose ``reference`` reads the result); the sums and the request
count are written as JSON to the path given as the second argument.
"""

from __future__ import annotations

import json
import sys
import time

import psycopg
from app import burn

CPU_ORDER, DB_SLEEP = 0.006, 0.015
REQUESTS = 80
TIMES = {"cpu": 0.0, "db": 0.0}
CPU_TIMES = {"cpu": 0.0, "db": 0.0}


def handle_order(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    for phase in ("cpu", "db"):
        wall, cpu = time.perf_counter(), time.thread_time()
        if phase == "cpu":
            burn(CPU_ORDER)
        else:
            conn.execute("SELECT pg_sleep(%s)", (DB_SLEEP,)).fetchall()
        TIMES[phase] += time.perf_counter() - wall
        CPU_TIMES[phase] += time.thread_time() - cpu


def main() -> None:
    # PgBouncer in transaction mode cannot keep prepared statements: psycopg must not prepare
    with psycopg.connect(sys.argv[1], autocommit=True, prepare_threshold=None) as conn:
        for _ in range(REQUESTS):
            handle_order(conn)
    result = {
        "requests": {"order": REQUESTS},
        "seconds": {"order": TIMES},
        "cpu_seconds": {"order": CPU_TIMES},
    }
    with open(sys.argv[2], "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
