"""The IRR of the independent reference fund model (``tests/fund_model.py``), from DOMAIN.md's
definition: the rate that zeroes the NPV of the monthly flows, the root closest to zero, NaN
when there is none. Plain Python floats; nothing of the engine is used."""

from __future__ import annotations

import math


def npv_x(flows: list[float], x: float) -> float:
    """Sum of flows[t] * x^t ($), x = 1 / (1 + monthly rate), by Horner's rule."""
    v = 0.0
    for f in reversed(flows):
        v = v * x + f
    return v


def npv_sign(flows: list[float], x: float) -> float:
    """A number with the sign of the NPV at x > 0: the NPV itself for x <= 1, else the NPV
    divided by x^T (T the last month), which cannot overflow."""
    return npv_x(flows, x) if x <= 1.0 else npv_x(flows[::-1], 1.0 / x)


def bisect_root(flows: list[float], a: float, b: float, fa: float) -> float:
    """Root in x of the NPV between a and b (a sign change), to 1e-15 relative."""
    for _ in range(4000):
        mid = 0.5 * (a + b)
        if b - a <= 1e-15 * mid or mid in (a, b):
            return mid
        fm = npv_sign(flows, mid)
        if fm == 0.0:
            return mid
        if (fm < 0.0) == (fa < 0.0):
            a, fa = mid, fm
        else:
            b = mid
    return 0.5 * (a + b)


def x_grid() -> list[float]:
    """Scan points in x = 1/(1+r), r a monthly rate: steps of 0.005 for r between -50 % and
    +100 % a month, geometric beyond (r out to ~1e13 a month and to -1 + 1e-13)."""
    near = [0.5 + 0.005 * i for i in range(301)]
    low = [0.5 / 1.5 ** i for i in range(75, 0, -1)]
    high = [2.0 * 1.5 ** i for i in range(1, 76)]
    return low + near + high


GRID = x_grid()


def trim(flows: list[float]) -> list[float]:
    """Flows without leading and trailing zeros (the NPV's positive roots are unchanged)."""
    nz = [i for i, f in enumerate(flows) if f != 0.0]
    return flows[nz[0]:nz[-1] + 1] if nz else []


def outer_root(flows: list[float], x: float, fx: float, factor: float) -> list[float]:
    """The root beyond the grid end x (scanning outwards by ``factor``) when the NPV's sign
    at x differs from its limit there (the last flow's sign as x -> inf, the first's as
    x -> 0); else none."""
    limit = flows[-1] if factor > 1.0 else flows[0]
    if fx == 0.0 or (fx < 0.0) == (limit < 0.0):
        return []
    y, fy = x, fx
    while (fy < 0.0) == (fx < 0.0) and fy != 0.0 and 1e-300 < y < 1e300:
        x, y = y, y * factor
        fy = npv_sign(flows, y)
    lo, hi = min(x, y), max(x, y)
    return [bisect_root(flows, lo, hi, npv_sign(flows, lo))]


def irr_monthly(flows: list[float]) -> float:
    """Monthly IRR of monthly flows ($): the root closest to 0; NaN without a sign change."""
    flows = trim(flows)
    if all(f > 0.0 for f in flows) or all(f < 0.0 for f in flows):
        return math.nan
    values = [npv_sign(flows, x) for x in GRID]
    slope_flows = [t * f for t, f in enumerate(flows)][1:]  # d NPV / dx, times x^0
    slopes = [npv_sign(slope_flows, x) for x in GRID]
    roots = [x for x, v in zip(GRID, values, strict=True) if v == 0.0]
    for i in range(len(GRID) - 1):
        fa, fb = values[i], values[i + 1]
        if fa != 0.0 and fb != 0.0 and (fa < 0.0) != (fb < 0.0):
            roots.append(bisect_root(flows, GRID[i], GRID[i + 1], fa))
        elif fa != 0.0 and fb != 0.0 and slopes[i] * slopes[i + 1] < 0.0:
            # same sign at both ends, but the NPV turns inside the cell: two roots if it
            # crosses zero at the turning point
            e = bisect_root(slope_flows, GRID[i], GRID[i + 1], slopes[i])
            fe = npv_sign(flows, e)
            if fe == 0.0 or (fe < 0.0) != (fa < 0.0):
                roots += [e] if fe == 0.0 else [bisect_root(flows, GRID[i], e, fa),
                                                bisect_root(flows, e, GRID[i + 1], fe)]
    roots += outer_root(flows, GRID[-1], values[-1], 10.0)
    roots += outer_root(flows, GRID[0], values[0], 0.1)
    rates = [1.0 / x - 1.0 for x in roots]
    return min(rates, key=abs) if rates else math.nan


def irr_annual(flows: list[float]) -> float:
    """Annualised IRR (1 + r_m)^12 - 1 of monthly flows ($); NaN when none exists, +inf when
    it is beyond the largest double (as numpy's power gives it)."""
    r = irr_monthly(flows)
    if math.isnan(r):
        return math.nan
    try:
        return (1.0 + r) ** 12 - 1.0
    except OverflowError:
        return math.inf
