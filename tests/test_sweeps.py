"""Parameter sweeps: grid order, vectorised vs per-point, executors (threads, processes, dask)."""

from __future__ import annotations

import functools
import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

import distributed
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan import queueing as q
from capplan import sweep
from capplan.errors import ParameterError
from capplan.sizing import size_servers
from capplan.sweeps import SweepPointError, grid_points

RATES = [2.0, 5.0, 8.0, 9.5]
SERVERS = [10, 12]


def _mmc_point(arrival_rate: float, servers: int) -> dict[str, float]:
    m = q.MMc(arrival_rate, 1.0, servers)
    return {"mean_wait": float(m.mean_wait), "p99_s": float(m.response_quantile(0.99))}


def _mmc_vectorized(arrival_rate: np.ndarray, servers: np.ndarray) -> dict[str, np.ndarray]:
    m = q.MMc(arrival_rate, 1.0, servers)
    return {"mean_wait": m.mean_wait, "p99_s": m.response_quantile(0.99)}


def test_grid_is_the_cartesian_product_last_name_fastest() -> None:
    points = grid_points({"a": [1, 2], "b": ["x", "y", "z"], "fixed": 0.5})
    assert list(points.columns) == ["a", "b", "fixed"]
    assert points[["a", "b"]].to_numpy().tolist() == [
        [1, "x"],
        [1, "y"],
        [1, "z"],
        [2, "x"],
        [2, "y"],
        [2, "z"],
    ]
    assert (points["fixed"] == 0.5).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_grid_has_every_combination_once(lengths: list[int]) -> None:
    grid = {f"p{i}": list(range(n)) for i, n in enumerate(lengths)}
    points = grid_points(grid)
    assert len(points) == math.prod(lengths)
    assert not points.duplicated().any()


def test_vectorized_is_one_call_and_equals_per_point() -> None:
    calls = []

    def counted(arrival_rate: np.ndarray, servers: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(len(arrival_rate))
        return _mmc_vectorized(arrival_rate, servers)

    grid = {"arrival_rate": RATES, "servers": SERVERS}
    one_call = sweep(counted, grid, vectorized=True)
    per_point = sweep(_mmc_point, grid)
    assert calls == [len(RATES) * len(SERVERS)]
    pd.testing.assert_frame_equal(one_call, per_point, check_dtype=False, rtol=1e-12)
    # Reference: M/M/c mean wait C(c, a) / (c mu - lambda), Erlang C from capplan's exact kernel.
    row = per_point.query("arrival_rate == 8.0 and servers == 10").iloc[0]
    assert row["mean_wait"] == pytest.approx(float(q.erlang_c(10, 8.0)) / (10 - 8.0), rel=1e-12)


def test_scalar_output_column_and_dataclass_output() -> None:
    frame = sweep(lambda x, y: x * y, {"x": [1, 2], "y": [3]}, output_name="product")
    assert frame["product"].tolist() == [3, 6]

    @dataclass(frozen=True)
    class Out:
        double: float
        square: float

    frame = sweep(lambda x: Out(2 * x, x * x), {"x": [1.5, 3.0]})
    assert frame[["double", "square"]].to_numpy().tolist() == [[3.0, 2.25], [6.0, 9.0]]


def test_explicit_points_and_dataframe_grids() -> None:
    rows = [{"arrival_rate": 8.0, "servers": 10}, {"arrival_rate": 2.0, "servers": 12}]
    from_rows = sweep(_mmc_point, rows)
    from_frame = sweep(_mmc_point, pd.DataFrame(rows))
    pd.testing.assert_frame_equal(from_rows, from_frame)
    assert from_rows["arrival_rate"].tolist() == [8.0, 2.0]


@pytest.mark.parametrize("pool", [ThreadPoolExecutor, ProcessPoolExecutor])
def test_executors_give_the_serial_frame_in_grid_order(pool: type) -> None:
    fn = functools.partial(size_servers, targets={0.99: 0.25}, max_utilization=0.7)
    grid = {"arrival_rate": [50.0, 400.0, 1000.0, 3000.0], "service_rate": [10.0, 25.0]}
    serial = sweep(fn, grid)
    with pool(max_workers=2) as executor:
        parallel = sweep(fn, grid, executor=executor, chunksize=3)
    pd.testing.assert_frame_equal(serial, parallel)
    # The M/M/c answer at 1000/s and 25/s per server: rho <= 0.7 needs ceil(40 / 0.7) = 58 servers.
    row = serial.query("arrival_rate == 1000.0 and service_rate == 25.0").iloc[0]
    assert row["servers"] == 58


def test_dask_local_cluster_executor() -> None:
    fn = functools.partial(size_servers, targets={0.99: 0.25}, max_utilization=0.7)
    grid = {"arrival_rate": [50.0, 400.0, 1000.0], "service_rate": [10.0, 25.0]}
    serial = sweep(fn, grid)
    with (
        distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        on_dask = sweep(fn, grid, executor=client.get_executor(), chunksize=2)
        workers_used = len(client.scheduler_info()["workers"])
    assert workers_used == 2
    pd.testing.assert_frame_equal(serial, on_dask)


def _fails_when_unstable(arrival_rate: float) -> float:
    return float(q.MMc(arrival_rate, 1.0, 2).wait_quantile(0.99)) if arrival_rate < 2 else _raise()


def _raise() -> float:
    raise ValueError("arrival_rate: 2 servers cannot carry this")


def test_errors_raise_names_the_point_or_are_recorded() -> None:
    with pytest.raises(SweepPointError, match=r"arrival_rate': 2\.5"):
        sweep(_fails_when_unstable, {"arrival_rate": [1.0, 2.5]})
    with ThreadPoolExecutor(max_workers=2) as executor, pytest.raises(SweepPointError, match=r"2\.5"):
        sweep(_fails_when_unstable, {"arrival_rate": [1.0, 2.5]}, executor=executor, chunksize=1)
    frame = sweep(_fails_when_unstable, {"arrival_rate": [1.0, 2.5]}, errors="record")
    assert pd.isna(frame["error"].iloc[0])
    assert "cannot carry" in frame["error"].tolist()[1]
    assert math.isfinite(frame["value"].iloc[0])
    assert math.isnan(frame["value"].iloc[1])


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "empty mapping"),
        ({"a": []}, r"grid\['a'\]: has no values"),
        ([{"a": 1}, {"b": 2}], "share their parameters"),
        ([1, 2], "mappings"),
        (pd.DataFrame({"a": []}), "no points"),
    ],
)
def test_bad_grids_are_named(grid: object, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        sweep(lambda **kw: 0.0, grid)  # type: ignore[arg-type]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ParameterError, match="errors"):
        sweep(_mmc_point, {"arrival_rate": [1.0], "servers": [2]}, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="chunksize"):
        sweep(_mmc_point, {"arrival_rate": [1.0], "servers": [2]}, chunksize=0)
    with pytest.raises(ParameterError, match="shape"):
        sweep(lambda x: np.zeros(3), {"x": [1.0, 2.0]}, vectorized=True)
    with pytest.raises(ParameterError, match="clash"):
        sweep(lambda x: {"x": x}, {"x": [1.0]})
