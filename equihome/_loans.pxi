# Included by _core.pyx (one compiled module; split for reading). The loans of the ledger
# kernel: their terms (LoanTerms: new_terms, tape_terms), claims under the contract, the walk
# from joining the book to the exit (walk_loan, foreclose) and the tape's seasoned loans
# (seat_tape). The structures they read (LedgerParams, Tables, Pool, Book, Fund) are declared in
# _core.pxd; run_ledger and the fund's monthly steps are in _ledger.pxi.

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
    ((1 + arc)^(1/12))^tau, and its own (1 + cap_rate / 12)^tau (as contracts.cap_factor)."""
    cdef f8 g = INFINITY
    if not lt.own:
        return t.cap_factor[tau] if p.has_cap else INFINITY
    if p.return_cap >= 0.0:
        g = int_pow(pow(1.0 + p.return_cap, 1.0 / 12.0), tau)
    if not isnan(lt.cap_rate):
        g = fmin(g, int_pow(1.0 + lt.cap_rate / 12.0, tau))
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


cdef int months_general(const LedgerParams* p, const Tables* t, const Pool* pool, Py_ssize_t k,
                        const LoanTerms* lt, Fund* f, int* month) noexcept nogil:
    """walk_loan's months after lt.start, any terms: adds the loan's claim (fair value) and
    cost to f.nav_loans and f.cost_at while it lives; returns the exit kind, its month in
    ``month`` (the month of the sale, refinance or default, else maturity or fund end)."""
    cdef Py_ssize_t J = pool.J, j = pool.suburb[k]
    cdef const f8* lev = pool.lev
    cdef const f8* hm = t.hazard_mult
    cdef f8 L = pool.size[k], ltv = pool.ltv[k]
    cdef f8 V0 = L / ltv, inv0 = lt.r0 / lev[lt.start * J + j]
    cdef int z = pool.zone[k], m0 = lt.m0, mat = lt.mat, M = p.months, junior = lt.junior
    cdef int last = mat if mat < M else M, m = lt.start, tau
    cdef f8 hd0 = t.default_rate[z], hdc = t.default_rate[z] * p.default_mult
    cdef f8 hsa = p.sale_hazard * p.sale_mult, hrb = p.refi_hazard * p.refi_mult
    cdef f8 target = 12.0 * pool.e_exit[k], cltv0 = senior_at(t, lt, 0) + ltv
    cdef f8 H = 0.0, ratio, claim, gain, hs, hr, hd, ht, x, lv
    for m in range(lt.start + 1, last + 1):
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
            month[0] = m
            x = pool.u_cause[k] * ht
            return EXIT_SALE if x < hs else (EXIT_REFI if x < hs + hr else EXIT_DEFAULT)
        if m == last:
            break
        f.nav_loans[m] += claim
        f.cost_at[m] += L
    month[0] = m
    return EXIT_MATURITY if m == mat else EXIT_LIQUIDATION


cdef enum:
    WALK_BLOCK = 24  # months months_plain computes at once (a loop the compiler vectorises; of
                     # 8, 16, 20, 24, 28 and 32, 24 measured fastest, 1.5 ms a run below 16)


cdef inline void plain_block(const f8* lev, Py_ssize_t J, int tau1, int n, f8 L, f8 V0, f8 inv0,
                             f8 accrual, f8 share_v0, f8 hd0, f8 hdc, f8 hs0, f8 hsa, f8 hr0,
                             f8 hrb, f8 thr, int hold, f8* claim, f8* hs, f8* hr,
                             f8* ht) noexcept nogil:
    """months_plain's claim ($) and sale, refinance and total hazards (annual) for n <=
    WALK_BLOCK consecutive months, the first at loan age tau1 on level lev[0] (the next ones
    J apart). Each month is independent, and every branch is a select between values
    already computed, so the compiler turns the loop into vector instructions; each number
    is the one months_general computes, operation for operation."""
    cdef int i, tau
    cdef f8 ratio, gain, value, c, up, lv, s, r, d
    for i in range(n):
        tau = tau1 + i
        ratio = lev[i * J] * inv0
        gain = ratio - 1.0
        value = V0 * ratio
        c = L + accrual * tau
        up = c + share_v0 * gain
        c = up if gain > 0.0 else c
        c = c if c < value else value
        c = c if c > 0.0 else 0.0
        d = hd0 - hdc * gain
        d = d if gain < 0.0 else hd0
        s = hs0 + hsa * gain
        s = s if gain > 0.0 else hs0
        lv = c / value
        r = hr0 + hrb * (thr - lv)
        r = r if lv < thr else hr0
        s = s if tau >= hold else 0.0
        r = r if tau >= hold else 0.0
        claim[i] = c
        hs[i] = s
        hr[i] = r
        ht[i] = s + r + d


cdef int months_plain(const LedgerParams* p, const Tables* t, const Pool* pool, Py_ssize_t k,
                      const LoanTerms* lt, Fund* f, int* month) noexcept nogil:
    """months_general for the common case, the same numbers: an interest_plus_share first
    lien with a plain share (no tiers, depreciation share, windows, caps or floor) and
    hazards no market stress scales. Months are computed WALK_BLOCK at a time (plain_block),
    then scanned in order for the exit."""
    cdef Py_ssize_t J = pool.J, j = pool.suburb[k]
    cdef const f8* lev = pool.lev
    cdef f8 L = pool.size[k], ltv = pool.ltv[k]
    cdef f8 V0 = L / ltv, inv0 = lt.r0 / lev[lt.start * J + j]
    cdef int z = pool.zone[k], m0 = lt.m0, mat = lt.mat, M = p.months
    cdef int last = mat if mat < M else M, m = lt.start, m1 = lt.start + 1, n, i
    cdef f8 hd0 = t.default_rate[z], hdc = t.default_rate[z] * p.default_mult
    cdef f8 target = 12.0 * pool.e_exit[k], H = 0.0, ht, x
    cdef f8* nav_loans = f.nav_loans  # locals: a store through them cannot move them
    cdef f8* cost_at = f.cost_at
    cdef f8 claim[WALK_BLOCK]
    cdef f8 hs[WALK_BLOCK]
    cdef f8 hr[WALK_BLOCK]
    cdef f8 hz[WALK_BLOCK]
    while m1 <= last:
        n = last - m1 + 1 if last - m1 + 1 < WALK_BLOCK else WALK_BLOCK
        plain_block(lev + m1 * J + j, J, m1 - m0, n, L, V0, inv0, lt.accrual, lt.share_v0, hd0,
                    hdc, p.sale_hazard, p.sale_hazard * p.sale_mult, p.refi_hazard,
                    p.refi_hazard * p.refi_mult, p.refi_threshold, p.min_hold_months, claim, hs,
                    hr, hz)
        for i in range(n):
            m = m1 + i
            ht = hz[i]
            H = H + ht
            if H >= target and ht > 0.0:
                month[0] = m
                x = pool.u_cause[k] * ht
                return EXIT_SALE if x < hs[i] else (EXIT_REFI if x < hs[i] + hr[i]
                                                    else EXIT_DEFAULT)
            if m == last:
                break
            nav_loans[m] += claim[i]
            cost_at[m] += L
        m1 += n
    month[0] = m
    return EXIT_MATURITY if m == mat else EXIT_LIQUIDATION


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
    cdef f8 L = pool.size[k], V0 = L / pool.ltv[k]
    cdef int m0 = lt.m0, s0 = lt.start, M = p.months, m = s0, tau, r, kind, junior = lt.junior
    cdef f8 inv0 = lt.r0 / lev[s0 * J + j]
    cdef f8 claim, hh, proceeds
    cdef int plain = (lt.ctype == 0 and not lt.tiered and not p.share_depreciation
                      and p.loss_share_months <= 0 and not lt.own and not p.has_cap
                      and p.claim_floor <= 0.0 and not junior and p.buyout_months <= 0
                      and not p.hazard_scaled)
    f.nav_loans[s0] += claim_value(p, t, lt, L, V0, lt.r0, s0 - m0) if lt.seasoned else L
    f.cost_at[s0] += L
    if plain:
        kind = months_plain(p, t, pool, k, lt, f, &m)
    else:
        kind = months_general(p, t, pool, k, lt, f, &m)
    tau = m - m0
    hh = own_exp(t.walk_sd[m - s0] * pool.z_home[2 * k] - t.walk_drift[m - s0])
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
    cdef f8 hh2 = hh * own_exp(p.home_sigma * sqrt((r - m) / 12.0) * pool.z_home[2 * k + 1]
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
