"""Gridded waits (heavy-tailed service): the cached discretisation, the partial transforms, and the
vectorised response-time CDF and quantiles against the values of the previous implementation.

The reference values below were computed by the earlier code, which solved every load with a full
inverse FFT and found each quantile by a scalar bisection (rtol 1e-9) on a per-cell Simpson sum;
the new path must give the same numbers (quantiles to 1e-8 relative, far inside the grid step of
~1e-3 relative, CDFs to 1e-9).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from capplan.distributions import hyperexponential, lognormal
from capplan.queueing import GGc
from capplan.queueing._grid import _POINTS, _Residuals, grid_wait
from capplan.queueing._grid_response import cdf_function, response_cdf
from capplan.queueing.service import DistributionService

LEVELS = np.array([0.5, 0.95, 0.99, 0.999])
TIMES = np.array([0.05, 0.2, 1.0])

# (service, servers, utilization, arrival SCV) -> (response quantiles at LEVELS, CDF at TIMES)
PREVIOUS: dict[tuple[str, int, float, float], tuple[list[float], list[float]]] = {
    ("lomax", 1, 0.5, 1.0): (
        [0.0502751801859, 0.554155544572, 1.50108183323, 6.220268837],
        [0.498632978931, 0.819012810986, 0.980356642757],
    ),
    ("lomax", 4, 0.8, 1.0): (
        [0.0546805605172, 0.404332393582, 0.900482673393, 3.10279087504],
        [0.474970094588, 0.845186203525, 0.991913041021],
    ),
    ("lomax", 8, 0.6, 1.0): (
        [0.0214887409114, 0.147948394413, 0.335798574494, 0.955167970331],
        [0.756372008588, 0.971453243881, 0.999098457993],
    ),
    ("lomax", 16, 0.9, 1.0): (
        [0.0437965985731, 0.250297435937, 0.508656221853, 1.48401074533],
        [0.542881061839, 0.921295150162, 0.997745952786],
    ),
    ("lomax", 8, 0.7, 2.0): (
        [0.0275867237514, 0.179355049666, 0.39795817842, 1.19009479663],
        [0.688047274482, 0.959325444198, 0.998568010077],
    ),
    ("lognormal", 1, 0.5, 1.0): (
        [0.0489503797258, 0.562762373761, 1.26285276074, 3.07098627282],
        [0.504964535405, 0.809371193019, 0.983205443217],
    ),
    ("lognormal", 4, 0.8, 1.0): (
        [0.0546888195769, 0.388825350004, 0.715375079791, 1.41362730057],
        [0.476347772712, 0.839731326589, 0.996645131821],
    ),
    ("lognormal", 8, 0.6, 1.0): (
        [0.0202722547388, 0.152387673399, 0.3501059882, 0.908817154426],
        [0.765266828781, 0.96921861011, 0.999227776618],
    ),
    ("lognormal", 16, 0.9, 1.0): (
        [0.0431792833957, 0.236379826382, 0.430672567015, 0.959479789467],
        [0.546235777031, 0.927096987242, 0.999112894796],
    ),
    ("lognormal", 8, 0.7, 2.0): (
        [0.0267244653055, 0.183521428728, 0.38542114673, 0.941743981414],
        [0.689968190887, 0.957723582275, 0.999154318396],
    ),
}


def _service(name: str) -> Any:
    """Mean 40 ms: Lomax with tail index 2.5 (SCV 5), lognormal with SCV 4."""
    return stats.lomax(2.5, scale=0.06) if name == "lomax" else lognormal(0.04, 4.0)


@pytest.mark.parametrize("case", sorted(PREVIOUS), ids=lambda c: "-".join(str(x) for x in c))
def test_gridded_response_matches_previous_implementation(case: tuple[str, int, float, float]) -> None:
    name, servers, rho, ca2 = case
    model = GGc(rho * servers / 0.04, None, servers, ca2, service=_service(name))
    assert model._grid is not None
    quantiles, cdfs = PREVIOUS[case]
    np.testing.assert_allclose(model.response_quantile(LEVELS), quantiles, rtol=1e-8)
    np.testing.assert_allclose(model.response_cdf(TIMES), cdfs, rtol=0, atol=1e-9)


def test_many_loads_in_one_model_match_one_load_at_a_time() -> None:
    # A sweep is one call: every element must be what its own model gives.
    dist = _service("lomax")
    rates = np.array([50.0, 120.0, 180.0, 199.0])
    sweep = GGc(rates, None, 8, service=dist)
    table = sweep.response_quantile(LEVELS[:, None])
    for j, rate in enumerate(rates):
        alone = GGc(float(rate), None, 8, service=dist)
        np.testing.assert_allclose(table[:, j], alone.response_quantile(LEVELS), rtol=1e-12)
    assert math.isinf(GGc(400.0, None, 8, service=dist).response_quantile(0.5))


@pytest.mark.parametrize(
    "dist",
    [
        stats.lomax(2.5, scale=0.06),
        stats.lognorm(1.2, scale=0.02),
        stats.weibull_min(0.5, scale=0.02),
        stats.gamma(0.5, loc=0.001, scale=0.08),
        stats.pareto(3.0, loc=-0.01, scale=0.01),
        hyperexponential(0.04, 4.0),
    ],
    ids=["lomax", "lognorm", "weibull", "gamma-loc", "pareto", "h2"],
)
def test_cdf_function_is_the_distributions_cdf(dist: Any) -> None:
    x = np.concatenate([[0.0, 1e-12, 0.001, 0.01], np.geomspace(1e-4, 100.0, 400), [np.inf]])
    np.testing.assert_array_equal(cdf_function(dist)(x), np.asarray(dist.cdf(x), dtype=np.float64))


def test_partial_sum_and_heads_agree_with_the_full_inverse_transform() -> None:
    service = DistributionService(_service("lomax"))
    residuals = _Residuals(service, 8.0, 2.5e-4)
    for rho in (0.05, 0.5, 0.9):
        full = residuals.full(rho)
        assert residuals.total(rho) == pytest.approx(full.sum(), rel=1e-10)
        for size in (512, 4096, _POINTS // 4):
            np.testing.assert_allclose(residuals.head(rho, size), full[:size], rtol=0, atol=1e-13)


def test_grid_cells_sum_to_the_probability_of_waiting() -> None:
    service = DistributionService(_service("lognormal"))
    grid = grid_wait(0.7, 0.3, 8.0, 0.9, service)
    assert grid.atom == pytest.approx(0.7)
    assert float(grid.cells.sum()) == pytest.approx(0.3, rel=1e-12)
    # A head is the start of the cells, and the CDF read from a head is the one from all cells.
    np.testing.assert_allclose(grid.head(1000)[:1000], grid.cells[:1000], rtol=1e-12, atol=1e-16)
    t = np.array([0.0, 0.01, 0.1, 1.0, np.inf])
    edges = np.concatenate([[0.0], (np.arange(grid.size) + 0.5) * grid.step])
    cum = np.minimum(grid.atom + np.concatenate([[0.0], np.cumsum(grid.cells)]), 1.0)
    np.testing.assert_allclose(grid.cdf(t), np.interp(t, edges, cum, left=0.0, right=1.0), rtol=1e-12)
    assert grid_wait(0.0, 0.0, 8.0, 1.0, service).atom == 1.0


def test_response_cdf_is_simpsons_rule_cell_by_cell() -> None:
    # The lattice form (one service-CDF call per time) is the per-cell Simpson sum, written out.
    dist = _service("lomax")
    grid = grid_wait(0.6, 0.4, 8.0, 1.1, DistributionService(dist))
    t = 0.37
    cells = grid.head_until(t)
    centre = np.arange(cells.size) * grid.step
    lo, hi = np.maximum(centre - 0.5 * grid.step, 0.0), centre + 0.5 * grid.step
    sel = (lo <= t) & (cells > 1e-16)
    a, m, b = t - lo[sel], np.maximum(t - 0.5 * (lo[sel] + hi[sel]), 0.0), np.maximum(t - hi[sel], 0.0)
    avg = (dist.cdf(a) + 4.0 * dist.cdf(m) + dist.cdf(b)) / 6.0
    expected = grid.atom * dist.cdf(t) + float(np.sum(cells[sel] * avg))
    got = response_cdf([grid], np.array([t]), cdf_function(dist))[0]
    assert got == pytest.approx(expected, rel=1e-13)
