# Included by _core.pyx (one compiled module; split for reading). The ledger kernel: run_ledger and
# its monthly steps (the loans themselves are in _loans.pxi).

# --------------------------------------------------------------------------- ledger
# The structures (LedgerParams, Tables, Pool, Book, Fund) are declared in _core.pxd.

cdef double CENT_SLACK = 1e-6  # of a cent: a sum a few ulps above a whole cent is that cent


cdef inline f8 owed_between(const Tables* t, f8 basis, int m, int h) noexcept nogil:
    """Management fees (on ``basis``, $) and expenses ($) falling due in months m+1..h."""
    return (basis * (t.rate_cum[h + 1] - t.rate_cum[m + 1]) / 12.0
            + (t.expense_cum[h + 1] - t.expense_cum[m + 1]))


cdef f8 fund_need(const LedgerParams* p, Fund* f, const Tables* t, Book* o, Py_ssize_t N,
                  f8 amount, f8 cap, int use_nav, f8 extra) noexcept nogil:
    """Pay ``amount`` ($) from cash, then debt (priority order), then equity while called +
    line drawn < ``cap`` (the subscription line first, then calls), then, if ``use_nav``, the
    NAV facility (``extra``: $ of a loan being made, counted in its borrowing base). Returns
    what could not be paid (0 when fully funded)."""
    cdef f8 use = fmin(f.cash, amount), d, x
    cdef Py_ssize_t tt
    f.cash -= use
    amount -= use
    for tt in range(t.NT):
        if amount <= 0.0:
            break
        d = fmin(amount, t.tr_size[tt] - f.debt_out[tt])
        if d > 0.0:
            f.debt_out[tt] += d
            o.ledger[C_DDRAW * N + f.m] += d
            o.debt[tt * N + f.m] -= d
            amount -= d
    if amount > 0.0:
        d = fmin(amount, fmax(cap - f.called - f.sub_out, 0.0))
        if p.sub_on:
            x = fmin(d, line_room(p, f))
            sub_draw(f, o, N, x)
            d -= x
            amount -= x
        f.called += d
        o.ledger[C_CALLS * N + f.m] += d
        amount -= d
    if amount > 0.0 and use_nav:
        d = fmin(amount, nav_headroom(p, f, extra))
        nav_draw(f, o, N, d)
        amount -= d
    return fmax(amount, 0.0)


def calendar(const f8[::1] fee_rate, const f8[::1] expense, const unsigned char[::1] dist_mask,
             f8[::1] rate_cum, f8[::1] expense_cum, i4[::1] next_dist):
    """Running sums of fee_rate and expense (months < m) and the next distribution month.

    IN fee_rate, expense, dist_mask (M+1,). OUT rate_cum, expense_cum (M+2,); next_dist
    (M+1,): the first month q > m paying out (dist_mask or q = M), M at M itself. They size
    the hold-back before a distribution.
    """
    cdef Py_ssize_t N = fee_rate.shape[0], m
    cdef i4 nxt = <i4>(N - 1)
    rate_cum[0] = 0.0
    expense_cum[0] = 0.0
    for m in range(N):
        rate_cum[m + 1] = rate_cum[m] + fee_rate[m]
        expense_cum[m + 1] = expense_cum[m] + expense[m]
    for m in range(N - 1, -1, -1):
        next_dist[m] = nxt
        if dist_mask[m] or m == N - 1:
            nxt = <i4>m
    next_dist[N - 1] = <i4>(N - 1)


def run_ledger(LedgerParams p, inp, out):
    """Run each scenario's fund month by month: originate, exit, pay, call, distribute.

    IN p: the run's scalars (a dict with LedgerParams' fields); inp: an
    ``exit_simulator.LedgerInputs`` (pool arrays (S, K) in origination order, z_home
    (S, K, 2), levels (S, M+1, J), and the run's monthly tables (M+1,): schedule ($ of
    initial origination made available), fee_rate (annual management-fee rate), expense
    ($, setup included), dist_mask (1 = distribution month), plus per-zone default_rate
    and recovery, the tier table, cap_factor, the tranches in priority order and
    hazard_mult (M+1, 3), the month's sale, refinance and default hazard multiples).
    OUT out: an ``exit_simulator.LedgerRun``: ledger (S, len(LEDGER_COLUMNS), M+1);
    debt_flows (S, NT, M+1) from each lender's side (draws negative); per-loan months,
    exit kind, reinvested flag and proceeds ($, at the receipt month; -1 months for loans
    never made); pool_exhausted[s] = 1 if the pool ran out while budget remained; lever
    (S, len(LEVER_ROWS), M+1) the facilities (_leverage.pxi); without one, read-only zeros
    the kernel leaves alone (LedgerRun.empty(levered=False)).

    Each month, in this order (one function each): receive, lever_charge (facility
    interest), charge, covenant (sweep), sub_repay_due (the line's draws called back),
    originate, distribute (lenders first), mark. Money owed never vanishes: a charge that cannot be paid
    (commitments exhausted) is an arrear, paid first from the next cash in; before each
    distribution the fund holds back the fees and expenses due until the next
    distribution, or, if more, what the live book at fair value cannot cover of those due
    until fund end, less what uncalled commitments can pay; what is still owed at fund
    end stays in the unpaid_fees column and reduces NAV.
    """
    cdef const f8[:, ::1] size = inp.size, ltv = inp.ltv, e_exit = inp.e_exit
    cdef const f8[:, ::1] u_cause = inp.u_cause
    cdef const i4[:, ::1] zone = inp.zone, suburb = inp.suburb
    cdef const f8[:, :, ::1] z_home = inp.z_home, levels = inp.levels
    cdef const f8[::1] schedule = inp.schedule, fee_rate = inp.fee_rate, expense = inp.expense
    cdef const unsigned char[::1] dist_mask = inp.dist_mask
    cdef const f8[::1] default_rate = inp.default_rate, recovery = inp.recovery
    cdef const f8[::1] tier_thr = inp.tier_thr, tier_share = inp.tier_share
    cdef const f8[::1] cap_factor = inp.cap_factor, tranche_size = inp.tranche_size
    cdef const f8[::1] tranche_rate_m = inp.tranche_rate_m
    cdef const f8[:, ::1] hazard_mult = inp.hazard_mult
    cdef const f8[::1] mult_up = inp.mult_up, mult_down = inp.mult_down
    cdef const f8[::1] senior_factor = inp.senior_factor
    cdef const i4[::1] tape_orig = inp.tape_orig, tape_maturity = inp.tape_maturity
    cdef const i4[::1] tape_default = inp.tape_default
    cdef const f8[::1] tape_ratio = inp.tape_ratio, tape_rate = inp.tape_rate
    cdef const f8[::1] tape_share = inp.tape_share
    cdef const i4[::1] tape_ctype = inp.tape_ctype
    cdef const f8[::1] tape_mult = inp.tape_mult, tape_risk_adj = inp.tape_risk_adj
    cdef const f8[::1] tape_cap = inp.tape_cap, tape_senior = inp.tape_senior
    cdef const f8[::1] amort = inp.amort
    cdef f8[::1] opening = out.opening
    cdef i1[:, ::1] cap_bound = out.cap_bound
    cdef f8[:, :, ::1] ledger = out.ledger, debt_flows = out.debt_flows
    cdef i4[:, ::1] orig_month = out.orig_month, exit_month = out.exit_month
    cdef i4[:, ::1] receipt_month = out.receipt_month
    cdef i1[:, ::1] exit_type = out.exit_type, reinvested = out.reinvested
    cdef f8[:, ::1] proceeds = out.proceeds
    cdef i1[::1] pool_exhausted = out.pool_exhausted
    cdef bint levered = p.nav_on or p.sub_on
    cdef f8[:, :, ::1] lever  # only with a facility (without one: read-only zeros, not written)
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], J = levels.shape[2]
    cdef Py_ssize_t N = p.months + 1, NT = tranche_size.shape[0], s, k
    check_ledger_shapes(p.months, p.n_tiers, inp, out, p.start, p.n_tape, levered)
    if levered:
        lever = out.lever
    cdef f8[:, ::1] scratch = np.zeros((S, 6 * N + NT + 1))
    cdef f8[::1] rate_cum = np.zeros(N + 1)
    cdef f8[::1] expense_cum = np.zeros(N + 1)
    cdef i4[::1] next_dist = np.empty(N, dtype=np.intc)
    calendar(fee_rate, expense, dist_mask, rate_cum, expense_cum, next_dist)
    cdef Tables t
    t.schedule = &schedule[0]
    t.fee_rate = &fee_rate[0]
    t.expense = &expense[0]
    t.dist_mask = &dist_mask[0]
    t.rate_cum = &rate_cum[0]
    t.expense_cum = &expense_cum[0]
    t.next_dist = &next_dist[0]
    t.tier_thr = &tier_thr[0]
    t.tier_share = &tier_share[0]
    t.cap_factor = &cap_factor[0]
    t.default_rate = &default_rate[0]
    t.recovery = &recovery[0]
    t.tr_size = &tranche_size[0] if NT else NULL
    t.tr_rate = &tranche_rate_m[0] if NT else NULL
    t.NT = NT
    t.hazard_mult = &hazard_mult[0, 0]
    t.mult_up = &mult_up[0]
    t.mult_down = &mult_down[0]
    t.senior_factor = &senior_factor[0]
    cdef bint T = tape_orig.shape[0] > 0
    t.tape_orig = &tape_orig[0] if T else NULL
    t.tape_ratio = &tape_ratio[0] if T else NULL
    t.tape_rate = &tape_rate[0] if T else NULL
    t.tape_share = &tape_share[0] if T else NULL
    t.tape_maturity = &tape_maturity[0] if T else NULL
    t.tape_default = &tape_default[0] if T else NULL
    t.tape_ctype = &tape_ctype[0] if T else NULL
    t.tape_mult = &tape_mult[0] if T else NULL
    t.tape_risk_adj = &tape_risk_adj[0] if T else NULL
    t.tape_cap = &tape_cap[0] if T else NULL
    t.tape_senior = &tape_senior[0] if T else NULL
    t.amort = &amort[0]
    cdef f8[::1] walk_sd = np.empty(N), walk_drift = np.empty(N)
    cdef Py_ssize_t i
    for i in range(N):  # the operations walk_loan took on i months walked, so the same bits
        walk_sd[i] = p.home_sigma * sqrt(i / 12.0)
        walk_drift[i] = 0.5 * (p.home_sigma * p.home_sigma) * (i / 12.0)
    t.walk_sd = &walk_sd[0]
    t.walk_drift = &walk_drift[0]
    cdef Pool pool
    cdef Book o
    pool.K = K
    pool.J = J
    with nogil:
        for s in range(S):
            ledger[s, :, :] = 0.0
            debt_flows[s, :, :] = 0.0
            if levered:
                lever[s, :, :] = 0.0
            pool.size = &size[s, 0]
            pool.ltv = &ltv[s, 0]
            pool.zone = &zone[s, 0]
            pool.suburb = &suburb[s, 0]
            pool.e_exit = &e_exit[s, 0]
            pool.u_cause = &u_cause[s, 0]
            pool.z_home = &z_home[s, 0, 0]
            pool.lev = &levels[s, 0, 0]
            o.ledger = &ledger[s, 0, 0]
            o.debt = &debt_flows[s, 0, 0] if NT else NULL
            o.orig_month = &orig_month[s, 0]
            o.exit_month = &exit_month[s, 0]
            o.receipt_month = &receipt_month[s, 0]
            o.exit_type = &exit_type[s, 0]
            o.reinvested = &reinvested[s, 0]
            o.proceeds = &proceeds[s, 0]
            o.cap_bound = &cap_bound[s, 0]
            o.lever = &lever[s, 0, 0] if levered else NULL
            o.opening = &opening[s]
            pool_exhausted[s] = ledger_one(&p, &t, &pool, &o, &scratch[s, 0])
            k = o.made  # loans 0 .. k-1 were made (book_loan wrote them); the rest never were
            orig_month[s, k:] = -1
            exit_month[s, k:] = -1
            receipt_month[s, k:] = -1
            exit_type[s, k:] = EXIT_NONE
            reinvested[s, k:] = 0
            reinvested[s, :p.n_tape] = 0  # seasoned loans: never recycled principal
            proceeds[s, k:] = 0.0
            cap_bound[s, k:] = 0


cdef i1 ledger_one(const LedgerParams* p, const Tables* t, const Pool* pool, Book* o,
                   f8* scratch) noexcept nogil:
    """One scenario of run_ledger; returns 1 if the loan pool ran out."""
    cdef Py_ssize_t N = p.months + 1
    cdef Fund f
    cdef int m
    f.m = p.start
    f.k = 0
    f.cash = p.open_cash
    f.called = p.open_called
    f.arrears = 0.0
    f.earmark = 0.0
    f.sched = 0.0
    f.basis = 0.0
    f.nav_prev = 0.0
    f.cost_prev = 0.0
    f.exhausted = 0
    f.proc_at = scratch
    f.prin_at = scratch + N
    f.nav_loans = scratch + 2 * N
    f.cost_at = scratch + 3 * N
    f.disp_at = scratch + 4 * N
    f.sub_due = scratch + 5 * N
    f.debt_out = scratch + 6 * N
    f.nav_out = 0.0
    f.sub_out = 0.0
    f.sub_head = 0
    f.breach = 0
    f.fac_fees = 0.0
    seat_tape(p, t, pool, &f, o)
    f.k = p.n_tape
    f.cost_prev = f.cost_at[p.start]
    f.nav_prev = f.cash + f.nav_loans[p.start]
    o.opening[0] = f.nav_prev
    for m in range(p.start, N):
        f.m = m
        receive(p, &f, o, N)
        lever_charge(p, &f, o, N)
        charge(p, t, &f, o, N)
        covenant(p, &f, o, N)
        sub_repay_due(p, &f, o, N)
        originate(p, t, pool, &f, o, N)
        distribute(p, t, &f, o, N)
        mark(p, t, &f, o, N)
    o.made = f.k
    return f.exhausted


cdef void receive(const LedgerParams* p, Fund* f, Book* o, Py_ssize_t N) noexcept nogil:
    """1. Proceeds arrive; principal received in the reinvestment period is earmarked."""
    cdef int m = f.m
    f.cash += f.proc_at[m]
    o.ledger[C_PROC * N + m] = f.proc_at[m]
    if m < p.reinvest_end:
        f.earmark += p.reinvest_rate * f.prin_at[m]
    else:
        f.earmark = 0.0


cdef void charge(const LedgerParams* p, const Tables* t, Fund* f, Book* o,
                 Py_ssize_t N) noexcept nogil:
    """2. Management fee, expenses, disposition fees, debt interest and the facilities'
    commitment fees fall due; with the arrears they are paid from cash, debt, then equity (and
    the NAV facility under the liquidity policy); what is left is the new arrears."""
    cdef int m = f.m, M = p.months
    cdef f8 mfee = 0.0, interest = 0.0, x, need
    cdef Py_ssize_t tt
    if m < M:
        if p.fee_basis == 0:
            f.basis = p.fund_size
        elif p.fee_basis == 1:
            f.basis = f.cost_prev
        else:
            f.basis = fmax(f.nav_prev, 0.0)
        mfee = t.fee_rate[m] / 12.0 * f.basis
    for tt in range(t.NT):
        x = f.debt_out[tt] * t.tr_rate[tt]
        o.debt[tt * N + m] += x
        interest += x
    o.ledger[C_MFEE * N + m] = mfee
    o.ledger[C_EXP * N + m] = t.expense[m]
    o.ledger[C_TXN * N + m] += f.disp_at[m]
    o.ledger[C_DSERV * N + m] += interest
    o.ledger[C_DINT * N + m] += interest
    need = f.arrears + mfee + t.expense[m] + f.disp_at[m] + interest
    if p.nav_on or p.sub_on:  # the facilities' commitment fees, set aside by lever_charge
        o.ledger[C_DSERV * N + m] += f.fac_fees
        o.ledger[C_DINT * N + m] += f.fac_fees
        need += f.fac_fees
    f.arrears = fund_need(p, f, t, o, N, need, p.fund_size, p.nav_on and not p.nav_deploy, 0.0)
    o.ledger[C_FPAID * N + m] += need - f.arrears


cdef void originate(const LedgerParams* p, const Tables* t, const Pool* pool, Fund* f,
                    Book* o, Py_ssize_t N) noexcept nogil:
    """3. New loans, in pool order, while the schedule and recycled principal allow and
    capital remains (origination stops before capital runs out)."""
    cdef int m = f.m
    cdef Py_ssize_t k, tt
    cdef f8 L, V0, net, avail, use_e
    cdef LoanExit ex
    cdef LoanTerms lt
    if m >= p.months:
        return
    if m < p.deploy_end:
        f.sched += t.schedule[m]
    else:
        f.sched = 0.0
    while True:
        k = f.k
        if k == pool.K:
            if f.sched + f.earmark >= p.min_loan_size:
                f.exhausted = 1
            break
        L = pool.size[k]
        if L > f.sched + f.earmark:
            break
        V0 = L / pool.ltv[k]
        net = L * (1.0 - p.fee_in_rate) + p.acquisition_rate * V0
        avail = f.cash + fmax(p.origination_cap - f.called - f.sub_out, 0.0)
        for tt in range(t.NT):
            avail += t.tr_size[tt] - f.debt_out[tt]
        if p.nav_deploy:
            avail += nav_headroom(p, f, L)
        if net > avail:
            break  # capital exhausted: origination stops first
        fund_need(p, f, t, o, N, net, p.origination_cap, p.nav_deploy, L)
        use_e = fmin(f.earmark, L)
        f.earmark -= use_e
        f.sched -= L - use_e
        o.reinvested[k] = 1 if use_e >= 0.5 * L else 0
        o.ledger[C_ADV * N + m] += L
        o.ledger[C_FEEINC * N + m] += L * p.fee_in_rate
        o.ledger[C_TXN * N + m] += p.acquisition_rate * V0
        o.ledger[C_FPAID * N + m] += p.acquisition_rate * V0
        new_terms(p, t, pool, k, m, &lt)
        walk_loan(p, t, pool, k, &lt, f, &ex)
        book_loan(p, f, o, k, L, m, &ex)
        f.k = k + 1


cdef void distribute(const LedgerParams* p, const Tables* t, Fund* f, Book* o,
                     Py_ssize_t N) noexcept nogil:
    """4. In a distribution month (and at fund end): hold back what falls due, repay debt
    in priority order, pay out the rest."""
    cdef int m = f.m, M = p.months
    cdef f8 hold = 0.0, owed, free, x
    cdef Py_ssize_t tt
    if not (t.dist_mask[m] or m == M):
        return
    if m == M:
        f.earmark = 0.0
    else:
        # the fees and expenses due until the next distribution, or what the live book at
        # fair value cannot cover of those due until fund end if more, less what uncalled
        # commitments can still pay; rounded up to the cent (a sum that rounding put a few
        # ulps above a whole cent stays that cent)
        owed = fmax(owed_between(t, f.basis, m, t.next_dist[m]),
                    owed_between(t, f.basis, m, M) - f.nav_loans[m])
        hold = fmax(ceil(100.0 * fmax(owed - fmax(p.fund_size - f.called - f.sub_out, 0.0),
                                      0.0) - CENT_SLACK), 0.0) / 100.0
    free = f.cash - f.earmark - hold
    if p.nav_on or p.sub_on:
        free = repay_lenders(p, f, o, N, free)
    for tt in range(t.NT):
        if free <= 0.0:
            break
        x = fmin(free, f.debt_out[tt])
        f.debt_out[tt] -= x
        o.debt[tt * N + m] += x
        o.ledger[C_DSERV * N + m] += x
        f.cash -= x
        free -= x
    if free > 0.0:
        o.ledger[C_DIST * N + m] = free
        f.cash -= free


cdef void mark(const LedgerParams* p, const Tables* t, Fund* f, Book* o,
               Py_ssize_t N) noexcept nogil:
    """5. Month end: NAV (cash + live loans at fair value - debt and facilities - arrears),
    invested capital, arrears, cash and the facilities' balances."""
    cdef int m = f.m
    cdef f8 debt_total = 0.0
    cdef Py_ssize_t tt
    for tt in range(t.NT):
        debt_total += f.debt_out[tt]
    if p.nav_on or p.sub_on:
        debt_total += f.nav_out + f.sub_out
        lev_row(o, L_NAV_BAL, N)[m] = f.nav_out
        lev_row(o, L_SUB_BAL, N)[m] = f.sub_out
    o.ledger[C_NAV * N + m] = f.cash + f.nav_loans[m] - debt_total - f.arrears
    o.ledger[C_COST * N + m] = f.cost_at[m]
    o.ledger[C_UNPAID * N + m] = f.arrears
    o.ledger[C_CASH * N + m] = f.cash
    f.nav_prev = o.ledger[C_NAV * N + m]
    f.cost_prev = f.cost_at[m]
