# Included by _core.pyx (one compiled module; split for reading). The ledger kernel: run_ledger and its monthly steps.

# --------------------------------------------------------------------------- ledger
# The structures (LedgerParams, Tables, Pool, Book, Fund) are declared in _core.pxd.

cdef double CENT_SLACK = 1e-6  # of a cent: a sum a few ulps above a whole cent is that cent


cdef struct LoanExit:
    int month                   # event month (exit or default)
    int receipt                 # month the cash arrives
    int kind
    double proceeds
    i1 cap_bound                # 1 if the return cap set the claim at exit


cdef struct LoanTerms:
    # One loan's terms, set once when it joins the book (new_terms, tape_terms)
    int m0                      # origination month
    int start                   # first month on the fund's book: m0, or E for a seasoned loan
    int mat                     # maturity month
    f8 r0                       # home value at ``start`` / V0
    f8 accrual                  # $ of simple interest a month
    f8 share_v0                 # share of the gain x V0, $
    int tiered                  # 1: the tier table sets the gain's share
    int junior                  # 1: a junior lien
    int ctype                   # contract type (0 interest_plus_share, 1 appreciation, 2 value)
    f8 risk_adj                 # appreciation_share: gain from (1 - risk_adj) V0
    int own                     # 1: the loan's own multiple, cap and senior below; 0: the
                                # fund's contract tables (mult_up/down, cap_factor, senior_factor)
    f8 mult                     # own: the multiple, both ways
    f8 cap_rate                 # own: claim at most L (1 + cap_rate / 12)^age; NaN: none
    f8 senior                   # own: senior mortgage balance / V0 at origination
    int seasoned                # 1: a tape loan, at fair value from lt.start (new: at cost)


cdef inline f8 mult_at(const Tables* t, const LoanTerms* lt, int tau, int up) noexcept nogil:
    """The contract multiple at loan age tau: up (gains) or down (losses)."""
    if lt.own:
        return lt.mult
    return t.mult_up[tau] if up else t.mult_down[tau]


cdef inline f8 cap_at(const LedgerParams* p, const Tables* t, const LoanTerms* lt,
                      int tau) noexcept nogil:
    """Growth of the advance at the return caps at loan age tau (INFINITY: no cap): the fund's
    cap_factor, or for a loan with its own terms the lesser of the fund's annual_return_cap,
    (1 + arc)^(tau / 12), and its own (1 + cap_rate / 12)^tau."""
    cdef f8 g = INFINITY
    if not lt.own:
        return t.cap_factor[tau] if p.has_cap else INFINITY
    if p.return_cap >= 0.0:
        g = pow(1.0 + p.return_cap, tau / 12.0)
    if not isnan(lt.cap_rate):
        g = fmin(g, pow(1.0 + lt.cap_rate / 12.0, tau))
    return g


cdef inline f8 senior_at(const Tables* t, const LoanTerms* lt, int age) noexcept nogil:
    """Senior mortgage balance / V0 at loan age ``age`` (junior liens)."""
    if lt.own:
        return lt.senior * t.amort[age]
    return t.senior_factor[age]


cdef inline f8 claim_formula(const LedgerParams* p, const Tables* t, const LoanTerms* lt, f8 L,
                             f8 V0, f8 ratio, int tau) noexcept nogil:
    """The contract's formula ($) tau months after origination on a home now worth V0*ratio,
    before the common terms (loss window, cap, floor, value) of claim_value.

    interest_plus_share: lt.accrual is L * rate / 12 ($ of simple interest a month);
    lt.share_v0 is share * V0, so the appreciation (or, with share_depreciation,
    depreciation) term is share_v0 * gain; with lt.tiered the tier table sets the gain's
    share. The other types: contract_claim.
    """
    if lt.ctype != 0:
        return contract_claim(t, lt, L, V0, ratio, tau)
    cdef f8 gain = ratio - 1.0
    cdef f8 claim = L + lt.accrual * tau
    cdef f8 lo = 0.0, hi, acc = 0.0
    cdef int i
    if gain > 0.0:
        if lt.tiered:
            for i in range(p.n_tiers + 1):
                if gain <= lo:
                    break
                hi = t.tier_thr[i] if i < p.n_tiers else INFINITY
                acc = acc + t.tier_share[i] * (fmin(gain, hi) - lo)
                lo = hi
            claim = claim + acc * V0
        else:
            claim = claim + lt.share_v0 * gain
    elif p.share_depreciation:
        claim = claim + lt.share_v0 * gain
    return claim


cdef inline f8 contract_claim(const Tables* t, const LoanTerms* lt, f8 L, f8 V0, f8 ratio,
                              int tau) noexcept nogil:
    """Formula ($) of appreciation_share, L + s (V - (1 - ra) V0), and of value_share,
    s V0 + s (V - V0) = s V, with s = multiple x L / V0 ($ of claim per $ of value): the
    multiple at the loan's age, the down multiple where V is below the start (mult_at)."""
    cdef f8 V = V0 * ratio, x
    if lt.ctype == 1:
        x = V - (1.0 - lt.risk_adj) * V0
        return L + mult_at(t, lt, tau, x >= 0.0) * L / V0 * x
    x = V - V0
    return mult_at(t, lt, tau, 1) * L + mult_at(t, lt, tau, x >= 0.0) * L / V0 * x


cdef inline f8 claim_value(const LedgerParams* p, const Tables* t, const LoanTerms* lt, f8 L,
                           f8 V0, f8 ratio, int tau) noexcept nogil:
    """The fund's claim ($) tau months after origination on a home now worth V0*ratio: the
    formula, at least L before loss_share_months, capped at L * cap_at(tau), at least
    floor * L, never above the value V0*ratio nor below 0."""
    cdef f8 claim = claim_formula(p, t, lt, L, V0, ratio, tau)
    if tau < p.loss_share_months:
        claim = fmax(claim, L)
    claim = fmin(claim, L * cap_at(p, t, lt, tau))
    if p.claim_floor > 0.0:
        claim = fmax(claim, p.claim_floor * L)
    claim = fmin(claim, V0 * ratio)
    return fmax(claim, 0.0)


cdef inline i1 cap_binds(const LedgerParams* p, const Tables* t, const LoanTerms* lt, f8 L,
                         f8 V0, f8 ratio, int tau) noexcept nogil:
    """1 if the return cap is below the formula (after the loss window), so it sets the claim."""
    cdef f8 claim = claim_formula(p, t, lt, L, V0, ratio, tau)
    if tau < p.loss_share_months:
        claim = fmax(claim, L)
    return 1 if claim > L * cap_at(p, t, lt, tau) else 0


cdef inline f8 net_of_senior(const Tables* t, const LoanTerms* lt, f8 V0, f8 value_net,
                             int age) noexcept nogil:
    """What a lien can recover ($) from a home worth value_net after foreclosure costs: all
    of it for a first lien, what the senior mortgage (amortised to ``age``) leaves otherwise."""
    if not lt.junior:
        return value_net
    return fmax(value_net - V0 * senior_at(t, lt, age), 0.0)


cdef inline f8 junior_default_hazard(const Tables* t, const LoanTerms* lt, f8 hd0, f8 hdc, f8 V0,
                                     f8 ratio, f8 claim, f8 cltv0, int tau) noexcept nogil:
    """A junior lien's annual default hazard: hd0 (1 + default_mult x max(1 - CLTV0 / CLTV, 0)),
    CLTV = (senior balance + claim) / value now, CLTV0 = senior ratio + LTV at origination
    (hdc = hd0 x default_mult); with the debt unchanged this is the first lien's
    hd0 (1 + default_mult x max(-gain, 0))."""
    cdef f8 debt = V0 * senior_at(t, lt, tau) + claim
    if debt <= 0.0:
        return hd0
    return hd0 + hdc * fmax(1.0 - cltv0 * V0 * ratio / debt, 0.0)


cdef inline int is_junior(const LedgerParams* p, Py_ssize_t k) noexcept nogil:
    """1 if pool loan k is a junior lien: junior_share of the loans, evenly in pool order."""
    if not p.has_senior:
        return 0
    return 1 if <long>((k + 1) * p.junior_share) > <long>(k * p.junior_share) else 0


cdef inline void fund_share(const LedgerParams* p, const Tables* t, f8 L, f8 ltv,
                            LoanTerms* lt) noexcept nogil:
    """The configured share of the gain (lt.share_v0, lt.tiered) and the fund's contract."""
    lt.share_v0 = (ltv if p.share_method == 0 else (
        t.tier_share[0] if p.share_method == 2 else p.fixed_share)) * (L / ltv)
    lt.tiered = p.share_method == 2
    lt.ctype = p.contract_type
    lt.risk_adj = p.risk_adj
    lt.own = 0
    lt.mult = 0.0
    lt.cap_rate = NAN
    lt.senior = 0.0


cdef inline void new_terms(const LedgerParams* p, const Tables* t, const Pool* pool,
                           Py_ssize_t k, int m, LoanTerms* lt) noexcept nogil:
    """The terms of synthetic pool loan k made in month m: the configured rate, share, term,
    contract and lien (junior_share of the synthetic loans, counted after the tape's)."""
    cdef f8 L = pool.size[k], ltv = pool.ltv[k]
    lt.m0 = m
    lt.start = m
    lt.mat = m + p.loan_term_months
    lt.r0 = 1.0
    lt.accrual = L * p.loan_rate * DT
    fund_share(p, t, L, ltv, lt)
    lt.junior = is_junior(p, k - p.n_tape)
    lt.seasoned = 0


cdef inline void tape_terms(const LedgerParams* p, const Tables* t, const Pool* pool,
                            Py_ssize_t k, LoanTerms* lt) noexcept nogil:
    """The terms of seasoned loan k (k < T): its own origination month, value at E, rate,
    share (NaN: the configured method) and maturity; the fund's contract as a first lien, or,
    when the tape states one (tape_ctype >= 0), its own type, multiple, risk adjustment, cap
    and senior balance."""
    cdef f8 L = pool.size[k], ltv = pool.ltv[k]
    lt.m0 = t.tape_orig[k]
    lt.start = p.start
    lt.mat = t.tape_maturity[k]
    lt.r0 = t.tape_ratio[k]
    lt.accrual = L * t.tape_rate[k] * DT
    fund_share(p, t, L, ltv, lt)
    if not isnan(t.tape_share[k]):
        lt.share_v0 = t.tape_share[k] * (L / ltv)
        lt.tiered = 0
    lt.junior = 0
    lt.seasoned = 1
    if t.tape_ctype[k] >= 0:
        lt.own = 1
        lt.ctype = t.tape_ctype[k]
        lt.mult = t.tape_mult[k]
        lt.risk_adj = t.tape_risk_adj[k]
        lt.cap_rate = t.tape_cap[k]
        lt.senior = t.tape_senior[k]
        lt.junior = lt.senior > 0.0


cdef void walk_loan(const LedgerParams* p, const Tables* t, const Pool* pool, Py_ssize_t k,
                    const LoanTerms* lt, Fund* f, LoanExit* out) noexcept nogil:
    """Follow pool loan k from month lt.start to its exit; add its fair value to NAV while alive.

    The exit is an exponential race: the loan leaves in the first month whose
    cumulative annual hazard, summed monthly, reaches 12 x its Exp(1) draw ``e_exit`` (the
    same law as a monthly exit probability 1 - exp(-h/12)); ``u_cause`` picks the cause in
    proportion to the hazards. Each month's hazards are scaled by that month's row of
    t.hazard_mult (sale, refinance, default; ones unless a market stress sets them). z_home:
    normals of the home's own walk from lt.start to exit and over the foreclosure delay. Loan
    ages (interest, windows, caps) count from lt.m0; the home is worth V0 lt.r0 at lt.start
    and follows its suburb's level from there. OUT: ``out`` and the loan's part of
    f.nav_loans and f.cost_at.
    """
    cdef Py_ssize_t J = pool.J, j = pool.suburb[k]
    cdef const f8* lev = pool.lev
    cdef f8* nav_loans = f.nav_loans
    cdef f8* cost_at = f.cost_at
    cdef f8 L = pool.size[k], ltv = pool.ltv[k]
    cdef int z = pool.zone[k]
    cdef f8 V0 = L / ltv
    cdef int m0 = lt.m0, s0 = lt.start
    cdef f8 inv0 = lt.r0 / lev[s0 * J + j]
    cdef f8 hd0 = t.default_rate[z], hdc = t.default_rate[z] * p.default_mult
    cdef f8 hsa = p.sale_hazard * p.sale_mult, hrb = p.refi_hazard * p.refi_mult
    cdef f8 target = 12.0 * pool.e_exit[k]
    cdef int M = p.months
    cdef int mat = lt.mat
    cdef int last = mat if mat < M else M
    cdef int m = s0, tau, r, kind = EXIT_NONE
    cdef f8 H = 0.0, ratio, claim, gain, hs, hr, hd, ht, x, lv, hh, proceeds, walk
    cdef f8 s2 = p.home_sigma * p.home_sigma
    cdef const f8* hm = t.hazard_mult
    cdef int junior = lt.junior
    cdef f8 cltv0 = senior_at(t, lt, 0) + ltv
    nav_loans[s0] += claim_value(p, t, lt, L, V0, lt.r0, s0 - m0) if lt.seasoned else L
    cost_at[s0] += L
    for m in range(s0 + 1, last + 1):
        tau = m - m0
        ratio = lev[m * J + j] * inv0
        claim = claim_value(p, t, lt, L, V0, ratio, tau)
        gain = ratio - 1.0
        hd = hd0 - hdc * gain if gain < 0.0 else hd0
        if junior:
            hd = junior_default_hazard(t, lt, hd0, hdc, V0, ratio, claim, cltv0, tau)
        hd = hd * hm[3 * m + 2]
        if tau >= p.min_hold_months:
            hs = (p.sale_hazard + hsa * gain if gain > 0.0 else p.sale_hazard) * hm[3 * m]
            lv = claim / (V0 * ratio)
            hr = (p.refi_hazard + hrb * (p.refi_threshold - lv) if lv < p.refi_threshold
                  else p.refi_hazard) * hm[3 * m + 1]
        else:
            hs = 0.0
            hr = 0.0
        if tau < p.buyout_months:
            hr = 0.0
        ht = hs + hr + hd
        H = H + ht
        if ht > 0.0 and H >= target:
            x = pool.u_cause[k] * ht
            if x < hs:
                kind = EXIT_SALE
            elif x < hs + hr:
                kind = EXIT_REFI
            else:
                kind = EXIT_DEFAULT
            break
        if m == last:
            kind = EXIT_MATURITY if m == mat else EXIT_LIQUIDATION
            break
        nav_loans[m] += claim
        cost_at[m] += L
    tau = m - m0
    walk = (m - s0) / 12.0
    hh = exp(p.home_sigma * sqrt(walk) * pool.z_home[2 * k] - 0.5 * s2 * walk)
    claim = claim_value(p, t, lt, L, V0, lev[m * J + j] * inv0 * hh, tau)
    out.cap_bound = cap_binds(p, t, lt, L, V0, lev[m * J + j] * inv0 * hh, tau)
    r = m
    if kind == EXIT_DEFAULT:
        r = m + p.foreclosure_lag
        if r > M:
            r = M
        proceeds = foreclose(p, t, lt, pool, k, m, r, claim, inv0, hh, f)
    elif kind == EXIT_LIQUIDATION:
        proceeds = claim * (1.0 - p.liquidation_discount)
    else:
        proceeds = claim
    out.month = m
    out.receipt = r
    out.kind = kind
    out.proceeds = proceeds


cdef f8 foreclose(const LedgerParams* p, const Tables* t, const LoanTerms* lt, const Pool* pool,
                  Py_ssize_t k, int m, int r, f8 claim, f8 inv0, f8 hh, Fund* f) noexcept nogil:
    """A default in month m, recovered in month r: returns the recovery ($), min(claim, what the
    lien recovers of the home then, after foreclosure costs) x the zone's recovery rate, and
    values the loan at the same rule on each month's index in m..r-1 (f.nav_loans, f.cost_at).
    hh: the home's own walk up to m; inv0: 1 / (its suburb level x V0 / value) at the start."""
    cdef Py_ssize_t J = pool.J, j = pool.suburb[k]
    cdef const f8* lev = pool.lev
    cdef f8 L = pool.size[k], V0 = L / pool.ltv[k], rec = t.recovery[pool.zone[k]]
    cdef f8 s2 = p.home_sigma * p.home_sigma
    cdef f8 hh2 = hh * exp(p.home_sigma * sqrt((r - m) / 12.0) * pool.z_home[2 * k + 1]
                           - 0.5 * s2 * (r - m) / 12.0)
    cdef f8 vr = V0 * (lev[r * J + j] * inv0) * hh2
    cdef int q, m0 = lt.m0
    for q in range(m, r):
        f.nav_loans[q] += fmin(claim, net_of_senior(
            t, lt, V0, V0 * (lev[q * J + j] * inv0) * (1.0 - p.foreclosure_cost), q - m0)) * rec
        f.cost_at[q] += L
    return fmin(claim, net_of_senior(t, lt, V0, vr * (1.0 - p.foreclosure_cost), r - m0)) * rec


cdef void seat_tape(const LedgerParams* p, const Tables* t, const Pool* pool, Fund* f,
                    Book* o) noexcept nogil:
    """Put the tape's seasoned loans 0..T-1 on the book at E: each walked from E like a new
    loan (walk_loan), or, in foreclosure, recovered foreclosure_lag after its default month (at
    E + 1 at the earliest, at M at the latest) on its claim at default valued at the home's
    value at E. Their proceeds are scheduled like any loan's; no cash moves at E."""
    cdef Py_ssize_t k
    cdef LoanTerms lt
    cdef LoanExit ex
    cdef int d, r, E = p.start
    cdef f8 L, V0
    for k in range(p.n_tape):
        tape_terms(p, t, pool, k, &lt)
        d = t.tape_default[k]
        if d < 0:
            walk_loan(p, t, pool, k, &lt, f, &ex)
        else:
            L = pool.size[k]
            V0 = L / pool.ltv[k]
            r = d + p.foreclosure_lag
            r = E + 1 if r <= E else r
            r = p.months if r > p.months else r
            ex.month = d
            ex.receipt = r
            ex.kind = EXIT_DEFAULT
            ex.cap_bound = 0
            ex.proceeds = foreclose(p, t, &lt, pool, k, E, r, claim_value(
                p, t, &lt, L, V0, lt.r0, d - lt.m0),
                lt.r0 / pool.lev[E * pool.J + pool.suburb[k]], 1.0, f)
        book_loan(p, f, o, k, pool.size[k], lt.m0, &ex)


cdef inline void book_loan(const LedgerParams* p, Fund* f, Book* o, Py_ssize_t k, f8 L, int m0,
                           const LoanExit* ex) noexcept nogil:
    """Record loan k's (advance L, $) months, kind and proceeds, and schedule its cash
    (proceeds, principal, disposition fee) for its receipt month."""
    o.orig_month[k] = m0
    o.exit_month[k] = ex.month
    o.receipt_month[k] = ex.receipt
    o.exit_type[k] = <i1>ex.kind
    o.proceeds[k] = ex.proceeds
    o.cap_bound[k] = ex.cap_bound
    f.proc_at[ex.receipt] += ex.proceeds
    f.prin_at[ex.receipt] += fmin(L, ex.proceeds)
    f.disp_at[ex.receipt] += p.disposition_rate * ex.proceeds


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
    (S, len(LEVER_ROWS), M+1) the facilities (_leverage.pxi), zero without them.

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
    cdef f8[:, :, ::1] lever = out.lever
    cdef Py_ssize_t S = size.shape[0], K = size.shape[1], J = levels.shape[2]
    cdef Py_ssize_t N = p.months + 1, NT = tranche_size.shape[0], s
    check_ledger_shapes(p.months, p.n_tiers, inp, out, p.start, p.n_tape)
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
    cdef Pool pool
    cdef Book o
    pool.K = K
    pool.J = J
    with nogil:
        for s in range(S):
            ledger[s, :, :] = 0.0
            debt_flows[s, :, :] = 0.0
            lever[s, :, :] = 0.0
            orig_month[s, :] = -1
            exit_month[s, :] = -1
            receipt_month[s, :] = -1
            exit_type[s, :] = EXIT_NONE
            reinvested[s, :] = 0
            proceeds[s, :] = 0.0
            cap_bound[s, :] = 0
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
            o.lever = &lever[s, 0, 0]
            o.opening = &opening[s]
            pool_exhausted[s] = ledger_one(&p, &t, &pool, &o, &scratch[s, 0])


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
