# Included by _core.pyx (one compiled module; split for reading). The batched IRR solver.

# --------------------------------------------------------------------------- IRR

# The solver's constants, named once; reference.IRR_CONSTANTS must hold the same values
# (tested). Rates are per period; the scan range is given per year and turned into per
# period by the caller's periods_per_year (12 for the engine's monthly flows).
cdef int IRR_GRID = 64                  # grid intervals scanned when the IRR may not be unique
cdef int IRR_MAX_ITER = 200             # Newton/bisection steps inside one bracket
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
    "scan_min_growth": IRR_SCAN_MIN_GROWTH,
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


cdef f8 solve_bracket(const f8* c, Py_ssize_t n, f8 a, f8 b, f8 fa) noexcept nogil:
    """Root in x of the NPV polynomial inside [a, b] where the sign changes.

    Newton steps from a rate of +-0.5 % a period when that lies in the bracket (where
    fund IRRs on monthly flows live), else from the middle; bisection whenever a step
    leaves the bracket.
    """
    cdef f8 x = 0.5 * (a + b), fx, d, nx
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
        nx = x - fx / d if d != 0.0 else 0.5 * (a + b)
        if fabs_(nx - x) <= IRR_STEP_TOL * fabs_(x):
            return nx  # Newton has converged
        if not (nx > a and nx < b):
            nx = 0.5 * (a + b)
        if b - a <= IRR_BRACKET_TOL * fabs_(x):
            return nx
        x = nx
    return x


cdef inline f8 fabs_(f8 v) noexcept nogil:
    return -v if v < 0.0 else v


cdef f8 irr_one(const f8* c, Py_ssize_t n, f8 periods_per_year, i1* flag) noexcept nogil:
    """Per-period IRR of flows c[0..n-1]; NaN with flag 2 when none exists.

    One sign change in the flows or in their running sum (Norstrom) means one root,
    bracketed on x in (0, inf). Otherwise the rate range -99.9 %..+1000 % a year
    (``periods_per_year`` periods a year) is scanned and the root closest to zero kept
    (flag 1 when several were found).
    """
    cdef Py_ssize_t t, sc = 0, scc = 0
    cdef int sg = 0, sgc = 0, st
    cdef f8 cum = 0.0, a, b, fa, fb, d, best = NAN, rate, x
    cdef int roots = 0, i
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
    if sc == 1 or scc == 1:
        # one root in x > 0: f(0) = c[0]-side sign; grow b until the sign flips
        a = 0.0
        fa = c[0]
        b = 1.0
        fb = npv_x(c, n, b, &d)
        i = 0
        while (fb < 0.0) == (fa < 0.0) and fb != 0.0 and i < IRR_MAX_DOUBLINGS:
            a = b
            fa = fb
            b = b * 2.0
            fb = npv_x(c, n, b, &d)
            i += 1
        if fb == 0.0:
            return 1.0 / b - 1.0
        if (fb < 0.0) == (fa < 0.0):
            flag[0] = 2
            return NAN
        x = solve_bracket(c, n, a, b, fa)
        return 1.0 / x - 1.0
    # several sign changes: scan the plausible range of rates
    a = 1.0 / (1.0 + pow(IRR_SCAN_MAX_GROWTH, 1.0 / periods_per_year) - 1.0)
    fa = npv_x(c, n, a, &d)
    for i in range(1, IRR_GRID + 1):
        b = (1.0 / pow(IRR_SCAN_MIN_GROWTH, 1.0 / periods_per_year) * i / IRR_GRID
             + a * (IRR_GRID - i) / IRR_GRID)
        fb = npv_x(c, n, b, &d)
        if fb == 0.0 or (fb < 0.0) != (fa < 0.0):
            x = b if fb == 0.0 else solve_bracket(c, n, a, b, fa)
            rate = 1.0 / x - 1.0
            roots += 1
            if roots == 1 or fabs_(rate) < fabs_(best):
                best = rate
        a = b
        fa = fb
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
