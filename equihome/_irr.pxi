# Included by _core.pyx (one compiled module; split for reading). The batched IRR solver.

# --------------------------------------------------------------------------- IRR

# The solver's constants, named once; reference.IRR_CONSTANTS must hold the same values
# (tested). Rates are per period; the scan range is given per year and turned into per
# period by the caller's periods_per_year (12 for the engine's monthly flows).
cdef int IRR_GRID = 64                  # grid intervals scanned when the IRR may not be unique
cdef enum:
    IRR_GRID_POINTS = 65                # IRR_GRID + 1 grid points (a compile-time size)
cdef int IRR_MAX_ITER = 200             # Newton/bisection steps inside one bracket
cdef int IRR_NEWTON_ITER = 40           # ... of which Newton's; then bisection (Newton stalls
                                        # only on a root near x = 0, a rate past any fund's)
cdef double IRR_X_MIN = 2.2250738585072014e-308  # the smallest normal double: x > 0 below it
cdef int IRR_MAX_DOUBLINGS = 2000       # bracket growth steps (x doubles each) for one root
cdef double IRR_STEP_TOL = 1e-14        # converged when a Newton step moves x this much (rel.)
cdef double IRR_BRACKET_TOL = 1e-15     # or when the bracket is this narrow (rel. to x)
cdef double IRR_START_LO = 1.0 / 1.005  # Newton starts at x = 1 / (1 + rate), rate +0.5 %
cdef double IRR_START_HI = 1.0 / 0.995  # or -0.5 % a period
cdef double IRR_SCAN_MAX_GROWTH = 11.0  # scan from +1000 % a year (growth factor 11) ...
cdef double IRR_SCAN_MIN_GROWTH = 0.001  # ... down to -99.9 % a year (growth factor 0.001)
IRR_CONSTANTS = {
    "grid": IRR_GRID, "max_iter": IRR_MAX_ITER, "max_doublings": IRR_MAX_DOUBLINGS,
    "step_tol": IRR_STEP_TOL, "bracket_tol": IRR_BRACKET_TOL, "start_lo": IRR_START_LO,
    "start_hi": IRR_START_HI, "scan_max_growth": IRR_SCAN_MAX_GROWTH,
    "scan_min_growth": IRR_SCAN_MIN_GROWTH, "newton_iter": IRR_NEWTON_ITER, "x_min": IRR_X_MIN,
}


cdef inline f8 npv_x(const f8* c, Py_ssize_t n, f8 x, f8* deriv) noexcept nogil:
    """sum c[t] x^t by Horner, with its derivative in x; x = 1 / (1 + rate)."""
    cdef f8 v = 0.0, d = 0.0
    cdef Py_ssize_t t = n - 1
    while t >= 0:
        d = d * x + v
        v = v * x + c[t]
        t -= 1
    deriv[0] = d
    return v


cdef void npv_grid(const f8* c, Py_ssize_t n, const f8* xs, f8* fs, f8* ds) noexcept nogil:
    """npv_x at the IRR_GRID + 1 points xs at once: the same Horner steps for each point (the
    same numbers as npv_x), interleaved so the points' chains run side by side."""
    cdef Py_ssize_t t = n - 1
    cdef int g
    for g in range(IRR_GRID_POINTS):
        fs[g] = 0.0
        ds[g] = 0.0
    while t >= 0:
        for g in range(IRR_GRID_POINTS):
            ds[g] = ds[g] * xs[g] + fs[g]
            fs[g] = fs[g] * xs[g] + c[t]
        t -= 1


cdef f8 solve_bracket(const f8* c, Py_ssize_t n, f8 a, f8 b, f8 fa) noexcept nogil:
    """Root in x of the NPV polynomial inside [a, b] where the sign changes.

    Newton steps from a rate of +-0.5 % a period when that lies in the bracket (where
    fund IRRs on monthly flows live), else from the middle; bisection whenever a step
    leaves the bracket. Newton converges in a few steps on any fund's IRR; on a root near
    x = 0 (calls of 1e-300 $ and a real distribution: a rate of 1e22 a month) it crawls, so
    after IRR_NEWTON_ITER steps the bracket is bisected instead, at the geometric middle
    while its ends are orders of magnitude apart.
    """
    cdef f8 x = 0.5 * (a + b), fx, d, nx, lo
    if a < IRR_START_LO < b:
        x = IRR_START_LO
    elif a < IRR_START_HI < b:
        x = IRR_START_HI
    cdef int it
    for it in range(IRR_MAX_ITER):
        fx = npv_x(c, n, x, &d)
        if fx == 0.0:
            return x
        if (fx < 0.0) == (fa < 0.0):
            a = x
            fa = fx
        else:
            b = x
        if it < IRR_NEWTON_ITER:
            nx = x - fx / d if d != 0.0 else 0.5 * (a + b)
            if fabs_(nx - x) <= IRR_STEP_TOL * fabs_(x):
                return nx  # Newton has converged
            if not (nx > a and nx < b):
                nx = 0.5 * (a + b)
        else:
            lo = a if a > IRR_X_MIN else IRR_X_MIN
            nx = sqrt(lo * b) if 2.0 * lo < b else 0.5 * (a + b)
        if b - a <= IRR_BRACKET_TOL * fabs_(x):
            return nx
        x = nx
    return x


cdef inline f8 fabs_(f8 v) noexcept nogil:
    return -v if v < 0.0 else v


cdef inline void add_root(f8 x, f8* best, int* roots) noexcept nogil:
    """Count the root x; keep in ``best`` the rate closest to zero found so far."""
    cdef f8 rate = 1.0 / x - 1.0
    roots[0] += 1
    if roots[0] == 1 or fabs_(rate) < fabs_(best[0]):
        best[0] = rate


cdef f8 turning_point(const f8* c, Py_ssize_t n, f8 a, f8 b, f8 da) noexcept nogil:
    """x in [a, b] where the NPV's derivative changes sign (da: its sign side at a), by
    bisection to IRR_BRACKET_TOL (at most IRR_MAX_ITER halvings)."""
    cdef f8 m = 0.5 * (a + b), dm
    cdef int it
    for it in range(IRR_MAX_ITER):
        if b - a <= IRR_BRACKET_TOL * fabs_(m):
            break
        npv_x(c, n, m, &dm)
        if dm == 0.0:
            return m
        if (dm < 0.0) == (da < 0.0):
            a = m
        else:
            b = m
        m = 0.5 * (a + b)
    return m


cdef void scan_roots(const f8* c, Py_ssize_t n, f8 lo, f8 hi, f8* best, int* roots) noexcept nogil:
    """Every root in x of the NPV polynomial on the grid of IRR_GRID equal intervals of
    (lo, hi] where the sign changes -- and, in an interval whose ends have the same sign
    but whose slope changes sign, the two roots either side of the turning point when the
    NPV crosses zero there; keeps in ``best`` the rate closest to zero and counts the
    roots found in ``roots`` (both carried in from the caller)."""
    cdef f8 a = lo, fa, da, b, fb, db, e, fe, de
    cdef f8 xs[IRR_GRID_POINTS]
    cdef f8 fs[IRR_GRID_POINTS]
    cdef f8 ds[IRR_GRID_POINTS]
    cdef int i
    xs[0] = lo
    for i in range(1, IRR_GRID + 1):
        xs[i] = lo + (hi - lo) * i / IRR_GRID
    npv_grid(c, n, xs, fs, ds)
    fa = fs[0]
    da = ds[0]
    for i in range(1, IRR_GRID + 1):
        b = xs[i]
        fb = fs[i]
        db = ds[i]
        if fb == 0.0 or (fa != 0.0 and (fb < 0.0) != (fa < 0.0)):
            add_root(b if fb == 0.0 else solve_bracket(c, n, a, b, fa), best, roots)
        elif fa != 0.0 and da != 0.0 and db != 0.0 and (da < 0.0) != (db < 0.0):
            e = turning_point(c, n, a, b, da)
            fe = npv_x(c, n, e, &de)
            if fe == 0.0:
                add_root(e, best, roots)
            elif (fe < 0.0) != (fa < 0.0):
                add_root(solve_bracket(c, n, a, e, fa), best, roots)
                add_root(solve_bracket(c, n, e, b, fe), best, roots)
        a = b
        fa = fb
        da = db


cdef f8 grow_bracket(const f8* c, Py_ssize_t n, f8 a, f8 b, int* found) noexcept nogil:
    """The first root in x beyond ``a``, doubling ``b`` until the NPV changes sign (at most
    IRR_MAX_DOUBLINGS times; an NPV that overflows to NaN ends the search at once); ``found``
    is 0 when there is none."""
    cdef f8 d, fa = npv_x(c, n, a, &d), fb = npv_x(c, n, b, &d)
    cdef int i = 0
    while (fb < 0.0) == (fa < 0.0) and fb != 0.0 and fb == fb and i < IRR_MAX_DOUBLINGS:
        a = b
        fa = fb
        b = b * 2.0
        fb = npv_x(c, n, b, &d)
        i += 1
    found[0] = 1
    if fb == 0.0:
        return b
    if (fb < 0.0) == (fa < 0.0) or fb != fb:  # no sign change, or the NPV overflowed to NaN
        found[0] = 0
        return NAN
    return solve_bracket(c, n, a, b, fa)


cdef inline Py_ssize_t to_last_flow(const f8* c, Py_ssize_t n) noexcept nogil:
    """n without the trailing zero flows (at least 1)."""
    while n > 1 and c[n - 1] == 0.0:
        n -= 1
    return n


cdef bint root_beyond(const f8* c, Py_ssize_t n, f8 x) noexcept nogil:
    """1 if the NPV crosses zero beyond x: its sign at x differs from the last nonzero flow's,
    its sign as x grows without bound."""
    cdef f8 d, fx = npv_x(c, n, x, &d)
    return fx != 0.0 and (fx < 0.0) != (c[to_last_flow(c, n) - 1] < 0.0)


cdef bint no_root_above_one(const f8* c, Py_ssize_t n) noexcept nogil:
    """1 if the NPV surely has no root in x > 1 (no negative rate): every tail sum
    R_t = c[t] + ... + c[n-1] (t >= 1, up to the last nonzero flow) has the sign of the total
    R_0, all clear of zero by more than the sums' rounding (1e-12 of sum |c|). For x > 1,
    NPV(x) = R_0 + (x - 1) sum_{t>=1} R_t x^(t-1) then never vanishes. A shortcut only: when
    it holds, scan_roots and root_beyond find nothing there either (the numpy twin, which
    always scans, holds the two to the same answers)."""
    cdef f8 total = 0.0, scale = 0.0, tail = 0.0, tol
    cdef Py_ssize_t t
    n = to_last_flow(c, n)
    for t in range(n):
        total += c[t]
        scale += fabs_(c[t])
    tol = 1e-12 * scale
    if not fabs_(total) > tol:
        return 0
    for t in range(n - 1, 0, -1):
        tail += c[t]
        if not (tail > tol if total > 0.0 else tail < -tol):
            return 0
    return 1


cdef f8 irr_one(const f8* c, Py_ssize_t n, f8 periods_per_year, i1* flag) noexcept nogil:
    """Per-period IRR of flows c[0..n-1]: the root closest to zero; NaN with flag 2 when none.

    One sign change in the flows (Descartes) means one root in x = 1 / (1 + rate) > 0. One
    sign change in their running sum (Norstrom) means one root with a positive rate
    (x < 1); roots with negative rates are then looked for on a grid of x in (1, x_max],
    and when none is there, beyond x_max (such a rate, below -99.9 % a year, is still the
    nearer to zero when the positive root's monthly rate is larger still).
    Otherwise x in [x_min, x_max] is scanned (x_min: +1000 % a year, x_max: -99.9 % a
    year, with ``periods_per_year`` periods a year), and only when that finds nothing, the
    rates beyond both ends. Flag 1 when several roots were found.
    """
    cdef Py_ssize_t t, sc = 0, scc = 0
    cdef int sg = 0, sgc = 0, st
    cdef f8 cum = 0.0, d, best = NAN, x, x_min, x_max, fx
    cdef int roots = 0, found
    for t in range(n):
        if c[t] != 0.0:
            st = 1 if c[t] > 0.0 else -1
            if sg != 0 and st != sg:
                sc += 1
            sg = st
        cum += c[t]
        if cum != 0.0:
            st = 1 if cum > 0.0 else -1
            if sgc != 0 and st != sgc:
                scc += 1
            sgc = st
    flag[0] = 0
    while n > 0 and c[0] == 0.0:  # leading zeros move no root with x > 0
        c += 1
        n -= 1
    if sc == 0:
        flag[0] = 2
        return NAN
    x_min = 1.0 / (1.0 + pow(IRR_SCAN_MAX_GROWTH, 1.0 / periods_per_year) - 1.0)
    x_max = 1.0 / pow(IRR_SCAN_MIN_GROWTH, 1.0 / periods_per_year)
    if sc == 1 or scc == 1:
        x = grow_bracket(c, n, 0.0, 1.0, &found)
        if not found:
            flag[0] = 2
            return NAN
        if sc == 1 or x >= 1.0:
            return 1.0 / x - 1.0  # the only root, or a rate of 0 (none is closer to zero)
        best = 1.0 / x - 1.0
        roots = 1
        if no_root_above_one(c, n):
            return best
        scan_roots(c, n, 1.0, x_max, &best, &roots)
        if roots == 1 and root_beyond(c, n, x_max):  # none down to x_max: one beyond it?
            x = grow_bracket(c, n, x_max, 2.0 * x_max, &found)
            if found:
                roots += 1
                if fabs_(1.0 / x - 1.0) < fabs_(best):
                    best = 1.0 / x - 1.0
    else:
        scan_roots(c, n, x_min, x_max, &best, &roots)
        if roots == 0:  # none in the plausible range: rates beyond it, above then below
            fx = npv_x(c, n, x_min, &d)
            if fx == 0.0 or (fx < 0.0) != (c[0] < 0.0):
                best = 1.0 / (x_min if fx == 0.0 else solve_bracket(c, n, 0.0, x_min, c[0])) - 1.0
                roots = 1
            x = grow_bracket(c, n, x_max, 2.0 * x_max, &found)
            if found:
                roots += 1
                if roots == 1 or fabs_(1.0 / x - 1.0) < fabs_(best):
                    best = 1.0 / x - 1.0
    if roots == 0:
        flag[0] = 2
    elif roots > 1:
        flag[0] = 1
    return best


def irr_batch(const f8[:, ::1] flows, f8 periods_per_year, f8[::1] rate, i1[::1] flag):
    """Per-period IRR of each row of ``flows`` (S, N); NaN where none exists.

    IN flows (S, N): one cash flow per period, investor's sign; periods_per_year: 12 for
    monthly flows (sets the scan range when several roots are possible).
    OUT rate (S,): the IRR per period; flag (S,): 0 unique root, 1 several roots (the one
    closest to zero is returned), 2 no root (rate NaN).
    """
    cdef Py_ssize_t S = flows.shape[0], N = flows.shape[1], s
    if rate.shape[0] != S or flag.shape[0] != S:
        raise ValueError(f"irr_batch: rate and flag need {S} rows")
    with nogil:
        for s in range(S):
            rate[s] = irr_one(&flows[s, 0], N, periods_per_year, &flag[s])
