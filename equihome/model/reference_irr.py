"""Numpy twin of the Cython IRR solver (``equihome/_irr.pxi``): the same grid scan, brackets
and Newton/bisection steps, in Python, for ``equihome.model.reference`` (which re-exports
``irr_batch``, ``irr_one`` and ``IRR_CONSTANTS``). Rates are per period; flows are signed
(money out of the investor negative).
"""

from __future__ import annotations

import math

import numpy as np

# The solver's constants: the same values as ``_core.IRR_CONSTANTS`` (tested).
IRR_GRID = 64
IRR_MAX_ITER = 200
IRR_NEWTON_ITER = 40
IRR_X_MIN = 2.2250738585072014e-308
IRR_MAX_DOUBLINGS = 2000
IRR_STEP_TOL = 1e-14
IRR_BRACKET_TOL = 1e-15
IRR_START_LO = 1.0 / 1.005
IRR_START_HI = 1.0 / 0.995
IRR_SCAN_MAX_GROWTH = 11.0
IRR_SCAN_MIN_GROWTH = 0.001
IRR_CONSTANTS = {
    "grid": IRR_GRID, "max_iter": IRR_MAX_ITER, "max_doublings": IRR_MAX_DOUBLINGS,
    "step_tol": IRR_STEP_TOL, "bracket_tol": IRR_BRACKET_TOL, "start_lo": IRR_START_LO,
    "start_hi": IRR_START_HI, "scan_max_growth": IRR_SCAN_MAX_GROWTH,
    "scan_min_growth": IRR_SCAN_MIN_GROWTH, "newton_iter": IRR_NEWTON_ITER, "x_min": IRR_X_MIN,
}


def _rate(x):
    """The rate 1 / x - 1 of a root x, with C's division (x = +-0: +-inf, not an exception)."""
    return math.copysign(math.inf, x) if x == 0.0 else 1.0 / x - 1.0


def _npv_x(c, x):
    """NPV polynomial sum c[t] x^t and its derivative (Horner, high order first)."""
    v = d = 0.0
    for ct in c[::-1]:
        d = d * x + v
        v = v * x + ct
    return v, d


def _solve_bracket(c, a, b, fa):
    x = 0.5 * (a + b)
    if a < IRR_START_LO < b:
        x = IRR_START_LO
    elif a < IRR_START_HI < b:
        x = IRR_START_HI
    for it in range(IRR_MAX_ITER):
        fx, d = _npv_x(c, x)
        if fx == 0.0:
            return x
        if (fx < 0.0) == (fa < 0.0):
            a, fa = x, fx
        else:
            b = x
        if it < IRR_NEWTON_ITER:
            nx = x - fx / d if d != 0.0 else 0.5 * (a + b)
            if abs(nx - x) <= IRR_STEP_TOL * abs(x):
                return nx  # Newton has converged
            if not (a < nx < b):
                nx = 0.5 * (a + b)
        else:  # Newton has stalled on a root near x = 0: bisect, geometrically when far apart
            lo = max(a, IRR_X_MIN)
            nx = math.sqrt(lo * b) if 2.0 * lo < b else 0.5 * (a + b)
        if b - a <= IRR_BRACKET_TOL * abs(x):
            return nx
        x = nx
    return x


def _sign_changes(v):
    s = np.sign(v[v != 0.0])
    return int(np.count_nonzero(s[1:] != s[:-1]))


def _turning_point(c, a, b, da):
    """Where the NPV's slope changes sign in [a, b]; see ``_core.turning_point``."""
    m = 0.5 * (a + b)
    for _ in range(IRR_MAX_ITER):
        if b - a <= IRR_BRACKET_TOL * abs(m):
            break
        dm = _npv_x(c, m)[1]
        if dm == 0.0:
            return m
        a, b = (m, b) if (dm < 0.0) == (da < 0.0) else (a, m)
        m = 0.5 * (a + b)
    return m


def _scan_roots(c, lo, hi, best, roots):
    """Roots on a grid of (lo, hi]; returns (best, roots); see ``_core.scan_roots``."""
    a = lo
    fa, da = _npv_x(c, a)
    found = []
    for i in range(1, IRR_GRID + 1):
        b = lo + (hi - lo) * i / IRR_GRID
        fb, db = _npv_x(c, b)
        if fb == 0.0 or (fa != 0.0 and (fb < 0.0) != (fa < 0.0)):
            found.append(b if fb == 0.0 else _solve_bracket(c, a, b, fa))
        elif fa != 0.0 and da != 0.0 and db != 0.0 and (da < 0.0) != (db < 0.0):
            e = _turning_point(c, a, b, da)
            fe = _npv_x(c, e)[0]
            if fe == 0.0:
                found.append(e)
            elif (fe < 0.0) != (fa < 0.0):
                found += [_solve_bracket(c, a, e, fa), _solve_bracket(c, e, b, fe)]
        a, fa, da = b, fb, db
    for rate in (_rate(x) for x in found):
        roots += 1
        best = rate if roots == 1 or abs(rate) < abs(best) else best
    return best, roots


def _grow_bracket(c, a, b):
    """The first root beyond ``a`` (doubling ``b``), or None; see ``_core.grow_bracket``."""
    fa, _ = _npv_x(c, a)
    fb, _ = _npv_x(c, b)
    i = 0
    while (fb < 0.0) == (fa < 0.0) and fb != 0.0 and fb == fb and i < IRR_MAX_DOUBLINGS:
        a, fa, b = b, fb, b * 2.0
        fb, _ = _npv_x(c, b)
        i += 1
    if fb == 0.0:
        return b
    if (fb < 0.0) == (fa < 0.0) or fb != fb:
        return None
    return _solve_bracket(c, a, b, fa)


def _root_beyond(c, x):
    """True if the NPV crosses zero beyond x: its sign at x differs from the last flow's, its
    sign as x grows without bound; see ``_core.root_beyond``."""
    fx, _ = _npv_x(c, x)
    last = next(v for v in reversed(c) if v != 0.0)
    return fx != 0.0 and (fx < 0.0) != (last < 0.0)


def irr_one(c, periods_per_year=12.0):
    """Per-period IRR (the root closest to zero) and flag; see ``_core.irr_row``."""
    c = [float(v) for v in np.trim_zeros(np.asarray(c, dtype=float), "f")]
    arr = np.asarray(c)
    if arr.size == 0 or _sign_changes(arr) == 0:
        return np.nan, 2
    x_min = 1.0 / (1.0 + pow(IRR_SCAN_MAX_GROWTH, 1.0 / periods_per_year) - 1.0)
    x_max = 1.0 / pow(IRR_SCAN_MIN_GROWTH, 1.0 / periods_per_year)
    best, roots = np.nan, 0
    if _sign_changes(arr) == 1 or _sign_changes(np.cumsum(arr)) == 1:
        x = _grow_bracket(c, 0.0, 1.0)
        if x is None:
            return np.nan, 2
        if _sign_changes(arr) == 1 or x >= 1.0:
            return _rate(x), 0
        best, roots = _scan_roots(c, 1.0, x_max, _rate(x), 1)
        if roots == 1 and _root_beyond(c, x_max):  # none down to x_max: one beyond it?
            x = _grow_bracket(c, x_max, 2.0 * x_max)
            if x is not None:
                roots += 1
                if abs(_rate(x)) < abs(best):
                    best = _rate(x)
    else:
        best, roots = _scan_roots(c, x_min, x_max, best, roots)
        if roots == 0:
            fx, _ = _npv_x(c, x_min)
            if fx == 0.0 or (fx < 0.0) != (c[0] < 0.0):
                best = _rate(x_min if fx == 0.0 else _solve_bracket(c, 0.0, x_min, c[0]))
                roots = 1
            x = _grow_bracket(c, x_max, 2.0 * x_max)
            if x is not None:
                roots += 1
                if roots == 1 or abs(_rate(x)) < abs(best):
                    best = _rate(x)
    return best, (2 if roots == 0 else 1 if roots > 1 else 0)


def irr_batch(flows, periods_per_year, rate, flag):
    """Per-period IRR of each row; see ``_core.irr_batch``."""
    for s, row in enumerate(np.asarray(flows)):
        rate[s], flag[s] = irr_one(row, periods_per_year)
