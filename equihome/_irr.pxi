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


cdef struct Bracket:
    # solve_bracket's state: the bracket [a, b] (fa: the NPV at a), the next x to evaluate,
    # the iteration; done = 1 once ``root`` is set
    f8 a
    f8 b
    f8 fa
    f8 x
    int it
    int done
    f8 root


cdef inline void bracket_start(Bracket* br, f8 a, f8 b, f8 fa) noexcept nogil:
    """solve_bracket's start in [a, b]: Newton from a rate of +-0.5 % a period when that lies
    in the bracket, else from the middle."""
    br.a = a
    br.b = b
    br.fa = fa
    br.x = 0.5 * (a + b)
    if a < IRR_START_LO < b:
        br.x = IRR_START_LO
    elif a < IRR_START_HI < b:
        br.x = IRR_START_HI
    br.it = 0
    br.done = 0


cdef inline void bracket_step(Bracket* br, f8 fx, f8 d) noexcept nogil:
    """One step of solve_bracket, given the NPV fx and its derivative d at br.x: narrow the
    bracket, then a Newton step (bisection when it leaves the bracket), or after
    IRR_NEWTON_ITER steps a bisection; done when the step or the bracket is small enough."""
    cdef f8 x = br.x, nx, lo
    if fx == 0.0:
        br.done = 1
        br.root = x
        return
    if (fx < 0.0) == (br.fa < 0.0):
        br.a = x
        br.fa = fx
    else:
        br.b = x
    if br.it < IRR_NEWTON_ITER:
        nx = x - fx / d if d != 0.0 else 0.5 * (br.a + br.b)
        if fabs_(nx - x) <= IRR_STEP_TOL * fabs_(x):
            br.done = 1  # Newton has converged
            br.root = nx
            return
        if not (nx > br.a and nx < br.b):
            nx = 0.5 * (br.a + br.b)
    else:
        lo = br.a if br.a > IRR_X_MIN else IRR_X_MIN
        nx = sqrt(lo * br.b) if 2.0 * lo < br.b else 0.5 * (br.a + br.b)
    if br.b - br.a <= IRR_BRACKET_TOL * fabs_(x):
        br.done = 1
        br.root = nx
        return
    br.x = nx
    br.it += 1
    if br.it == IRR_MAX_ITER:
        br.done = 1
        br.root = nx


cdef f8 solve_bracket(const f8* c, Py_ssize_t n, f8 a, f8 b, f8 fa) noexcept nogil:
    """Root in x of the NPV polynomial inside [a, b] where the sign changes.

    Newton steps from a rate of +-0.5 % a period when that lies in the bracket (where
    fund IRRs on monthly flows live), else from the middle; bisection whenever a step
    leaves the bracket. Newton converges in a few steps on any fund's IRR; on a root near
    x = 0 (calls of 1e-300 $ and a real distribution: a rate of 1e22 a month) it crawls, so
    after IRR_NEWTON_ITER steps the bracket is bisected instead, at the geometric middle
    while its ends are orders of magnitude apart (bracket_step; irr_lanes runs the same
    steps for IRR_LANES rows at once).
    """
    cdef Bracket br
    cdef f8 fx, d
    bracket_start(&br, a, b, fa)
    while not br.done:
        fx = npv_x(c, n, br.x, &d)
        bracket_step(&br, fx, d)
    return br.root


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


cdef struct IrrRow:
    # one row of irr_batch after its first pass: its flows without the leading zeros and
    # their sign changes (sc) and those of their running sum (scc)
    const f8* c
    Py_ssize_t n
    Py_ssize_t sc
    Py_ssize_t scc


cdef void irr_prelude(const f8* c, Py_ssize_t n, IrrRow* row) noexcept nogil:
    """The sign changes of the flows and of their running sum; the flows without leading zeros
    (which move no root with x > 0)."""
    cdef Py_ssize_t t, sc = 0, scc = 0
    cdef int sg = 0, sgc = 0, st
    cdef f8 cum = 0.0
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
    while n > 0 and c[0] == 0.0:
        c += 1
        n -= 1
    row.c = c
    row.n = n
    row.sc = sc
    row.scc = scc


cdef f8 irr_row(const IrrRow* row, f8 x_min, f8 x_max, i1* flag) noexcept nogil:
    """Per-period IRR of a row of flows (after irr_prelude): the root closest to zero; NaN with
    flag 2 when none.

    One sign change in the flows (Descartes) means one root in x = 1 / (1 + rate) > 0. One
    sign change in their running sum (Norstrom) means one root with a positive rate
    (x < 1); roots with negative rates are then looked for on a grid of x in (1, x_max],
    and when none is there, beyond x_max (such a rate, below -99.9 % a year, is still the
    nearer to zero when the positive root's monthly rate is larger still).
    Otherwise x in [x_min, x_max] is scanned (x_min: +1000 % a year, x_max: -99.9 % a
    year: scan_limits), and only when that finds nothing, the rates beyond both ends. Flag 1
    when several roots were found.
    """
    cdef int found
    cdef f8 x
    if row.sc == 0:
        flag[0] = 2
        return NAN
    if row.sc == 1 or row.scc == 1:
        x = grow_bracket(row.c, row.n, 0.0, 1.0, &found)
        return irr_from_first_root(row, x, found, x_max, flag)
    return irr_scanned(row, x_min, x_max, flag)


cdef f8 irr_from_first_root(const IrrRow* row, f8 x, int found, f8 x_max,
                            i1* flag) noexcept nogil:
    """irr_row with one sign change in the flows or their running sum, given the first root x
    beyond 0 (grow_bracket from (0, 1); found = 0: none)."""
    cdef const f8* c = row.c
    cdef Py_ssize_t n = row.n
    cdef f8 best
    cdef int roots
    flag[0] = 0
    if not found:
        flag[0] = 2
        return NAN
    if row.sc == 1 or x >= 1.0:
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
    if roots > 1:
        flag[0] = 1
    return best


cdef f8 irr_scanned(const IrrRow* row, f8 x_min, f8 x_max, i1* flag) noexcept nogil:
    """irr_row with several sign changes in the flows and in their running sum: the roots on
    the grid of [x_min, x_max], else beyond its ends."""
    cdef const f8* c = row.c
    cdef Py_ssize_t n = row.n
    cdef f8 best = NAN, x, fx, d
    cdef int roots = 0, found
    flag[0] = 0
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


cdef inline void scan_limits(f8 periods_per_year, f8* x_min, f8* x_max) noexcept nogil:
    """The scanned x range: x_min at +1000 % a year, x_max at -99.9 % a year."""
    x_min[0] = 1.0 / (1.0 + pow(IRR_SCAN_MAX_GROWTH, 1.0 / periods_per_year) - 1.0)
    x_max[0] = 1.0 / pow(IRR_SCAN_MIN_GROWTH, 1.0 / periods_per_year)


cdef enum:
    IRR_LANES = 4  # rows irr_lanes solves at once


cdef extern from *:
    """
    /* npv_x of 4 rows at once: row l's flow t at ct[4t + l] (0 past the row's end, which
       leaves its sums exactly 0 until its own flows start), at the points x[0..3]: the same
       Horner steps as npv_x for each row, on GCC/Clang vectors where they exist. */
    static inline void eqh_npv4(const double* ct, Py_ssize_t n, const double* x, double* f,
                                double* d) {
    #if defined(__GNUC__)
        typedef double v4 __attribute__((vector_size(32)));
        typedef double v4u __attribute__((vector_size(32), aligned(8), may_alias));
        v4 X = *(const v4u*)x, V = {0.0, 0.0, 0.0, 0.0}, D = V;
        Py_ssize_t t;
        for (t = n - 1; t >= 0; t--) {
            D = D * X + V;
            V = V * X + *(const v4u*)(ct + 4 * t);
        }
        *(v4u*)f = V;
        *(v4u*)d = D;
    #else
        int l;
        Py_ssize_t t;
        for (l = 0; l < 4; l++) {
            double v = 0.0, dd = 0.0;
            for (t = n - 1; t >= 0; t--) {
                dd = dd * x[l] + v;
                v = v * x[l] + ct[4 * t + l];
            }
            f[l] = v;
            d[l] = dd;
        }
    #endif
    }
    """
    void npv4 "eqh_npv4"(const f8* ct, Py_ssize_t n, const f8* x, f8* f, f8* d) noexcept nogil


cdef void irr_lanes(const f8* flows, Py_ssize_t L, Py_ssize_t N, f8 x_min, f8 x_max, f8* ct,
                    f8* rate, i1* flag) noexcept nogil:
    """irr_row for L <= IRR_LANES rows of ``flows`` (L, N) at once where they take its common
    path (one sign change in the flows or their running sum, and the NPV changing sign on
    (0, 1]): their first roots are found side by side, every Newton step evaluating all the
    rows' NPVs in one pass (npv4; the chains' latencies overlap), each row's steps exactly
    solve_bracket's (bracket_step). Other rows, and the rest of every row, run irr_row's own
    code. ct: scratch of IRR_LANES x N."""
    cdef IrrRow rows[IRR_LANES]
    cdef Bracket br[IRR_LANES]
    cdef int on[IRR_LANES]
    cdef f8 x[IRR_LANES]
    cdef f8 f0[IRR_LANES]
    cdef f8 f1[IRR_LANES]
    cdef f8 d[IRR_LANES]
    cdef Py_ssize_t l, t, n = 0
    cdef int live = 0
    for l in range(IRR_LANES):
        on[l] = 0
        if l < L:
            irr_prelude(flows + l * N, N, &rows[l])
            on[l] = rows[l].sc >= 1 and (rows[l].sc == 1 or rows[l].scc == 1)
        if on[l] and rows[l].n > n:
            n = rows[l].n
    for t in range(n):
        for l in range(IRR_LANES):
            ct[IRR_LANES * t + l] = rows[l].c[t] if on[l] and t < rows[l].n else 0.0
    for l in range(IRR_LANES):
        x[l] = 0.0
    npv4(ct, n, x, f0, d)
    for l in range(IRR_LANES):
        x[l] = 1.0
    npv4(ct, n, x, f1, d)
    for l in range(IRR_LANES):  # grow_bracket from (0, 1): a sign change at once, or a root at 1
        if not on[l]:
            continue
        if f1[l] == 0.0:
            br[l].done = 1
            br[l].root = 1.0
        elif f1[l] == f1[l] and (f1[l] < 0.0) != (f0[l] < 0.0):
            bracket_start(&br[l], 0.0, 1.0, f0[l])
            live += 1
        else:
            on[l] = 0  # the bracket must grow: irr_row's own code
    while live > 0:
        for l in range(IRR_LANES):
            x[l] = br[l].x if on[l] and not br[l].done else 1.0
        npv4(ct, n, x, f0, d)
        for l in range(IRR_LANES):
            if on[l] and not br[l].done:
                bracket_step(&br[l], f0[l], d[l])
                live -= br[l].done
    for l in range(L):
        if on[l]:
            rate[l] = irr_from_first_root(&rows[l], br[l].root, 1, x_max, &flag[l])
        else:
            rate[l] = irr_row(&rows[l], x_min, x_max, &flag[l])


def irr_batch(const f8[:, ::1] flows, f8 periods_per_year, f8[::1] rate, i1[::1] flag):
    """Per-period IRR of each row of ``flows`` (S, N); NaN where none exists.

    IN flows (S, N): one cash flow per period, investor's sign; periods_per_year: 12 for
    monthly flows (sets the scan range when several roots are possible).
    OUT rate (S,): the IRR per period; flag (S,): 0 unique root, 1 several roots (the one
    closest to zero is returned), 2 no root (rate NaN). Rows are solved IRR_LANES at a time
    (irr_lanes), each to the same bits as alone.
    """
    cdef Py_ssize_t S = flows.shape[0], N = flows.shape[1], s
    cdef f8 x_min, x_max
    if rate.shape[0] != S or flag.shape[0] != S:
        raise ValueError(f"irr_batch: rate and flag need {S} rows")
    if S == 0 or N == 0:
        for s in range(S):
            rate[s] = NAN
            flag[s] = 2
        return
    cdef f8[::1] ct = np.zeros(IRR_LANES * N)
    scan_limits(periods_per_year, &x_min, &x_max)
    with nogil:
        s = 0
        while s < S:
            irr_lanes(&flows[s, 0], S - s if S - s < IRR_LANES else IRR_LANES, N, x_min, x_max,
                      &ct[0], &rate[s], &flag[s])
            s += IRR_LANES
