# Included by _core.pyx before _ledger.pxi. The facilities of DOMAIN.md "Leverage": a NAV
# facility secured on the live loans and a subscription line backed by uncalled commitments.
# Each month, around the ledger's own steps: facility interest and fees (lever_charge), the
# covenant sweep (covenant), the line's draws called back when due (sub_repay_due), lenders
# repaid before any equity distribution (repay_lenders) and, at fund end, what the book could
# not repay written off as the lender's loss. The lever rows (layout.LEVER_ROWS) record it.


cdef inline f8* lev_row(Book* o, Py_ssize_t row, Py_ssize_t N) noexcept nogil:
    """Row ``row`` of the scenario's facility record (M+1 months)."""
    return o.lever + row * N


cdef inline int in_window(const LedgerParams* p, int m) noexcept nogil:
    """1 if the NAV facility may lend in month m."""
    return 1 if p.nav_win_start <= m < p.nav_win_end else 0


cdef inline f8 nav_headroom(const LedgerParams* p, Fund* f, f8 extra) noexcept nogil:
    """$ the NAV facility can still lend this month: min(advance_rate x (fair value of the live
    loans + ``extra``, the loan being made), limit) - drawn; 0 outside the draw window, in a
    covenant breach, or without the facility."""
    if not p.nav_on or not in_window(p, f.m) or f.breach:
        return 0.0
    return fmax(fmin(p.nav_adv * (f.nav_loans[f.m] + extra), p.nav_limit) - f.nav_out, 0.0)


cdef inline void nav_draw(Fund* f, Book* o, Py_ssize_t N, f8 d) noexcept nogil:
    """Draw $d on the NAV facility (cash in, or a capitalised charge)."""
    f.nav_out += d
    lev_row(o, L_NAV_DRAWS, N)[f.m] += d
    o.ledger[C_DDRAW * N + f.m] += d


cdef inline void sub_draw(Fund* f, Book* o, Py_ssize_t N, f8 d) noexcept nogil:
    """Draw $d on the subscription line, due back by a call sub_months later."""
    f.sub_out += d
    f.sub_due[f.m] += d
    lev_row(o, L_SUB_DRAWS, N)[f.m] += d
    o.ledger[C_DDRAW * N + f.m] += d


cdef inline f8 line_room(const LedgerParams* p, Fund* f) noexcept nogil:
    """$ the line can still lend: limit_fraction x uncalled commitments - drawn (>= 0)."""
    return fmax(p.sub_frac * (p.fund_size - f.called) - f.sub_out, 0.0)


cdef inline void lender_paid(Book* o, Py_ssize_t N, int m, f8 x) noexcept nogil:
    """Interest of $x to a facility: charged and paid (cash, call or capitalised)."""
    o.ledger[C_DSERV * N + m] += x
    o.ledger[C_DINT * N + m] += x
    o.ledger[C_FPAID * N + m] += x


cdef void lever_charge(const LedgerParams* p, Fund* f, Book* o, Py_ssize_t N) noexcept nogil:
    """1b. Facility interest (monthly rate x the balance at the start of the month) falls
    due, before the fund's own charges: paid from cash; what cash cannot pay is capitalised on
    the NAV facility, and called (capitalised beyond the commitments) on the line, with the
    line's commitment fee (monthly rate x its undrawn limit, months < M): every dollar the
    line's lender receives is the investors'. The NAV facility's commitment fee (on its
    undrawn limit in its draw window) is set aside in f.fac_fees, paid with the fund's fees."""
    cdef int m = f.m, M = p.months
    cdef f8 x, use, lim, d
    f.fac_fees = 0.0  # the fees are on the undrawn limits at the start of the month
    if p.nav_on:
        if m < M and in_window(p, m):
            lim = p.nav_limit if p.nav_limit < INFINITY else p.nav_adv * (
                f.nav_loans[m - 1] if m > 0 else 0.0)
            f.fac_fees = p.nav_fee_m * fmax(lim - f.nav_out, 0.0)
            lev_row(o, L_NAV_FEES, N)[m] = f.fac_fees
        x = f.nav_out * p.nav_rate_m
        lev_row(o, L_NAV_INT, N)[m] = x
        lender_paid(o, N, m, x)
        use = fmin(f.cash, x)
        f.cash -= use
        if x - use > 0.0:
            lev_row(o, L_NAV_CAP, N)[m] = x - use
            nav_draw(f, o, N, x - use)
    if p.sub_on:
        x = f.sub_out * p.sub_rate_m
        lev_row(o, L_SUB_INT, N)[m] = x
        if m < M:
            d = p.sub_fee_m * line_room(p, f)
            lev_row(o, L_SUB_FEES, N)[m] = d
            x += d
        lender_paid(o, N, m, x)
        use = fmin(f.cash, x)
        f.cash -= use
        x -= use
        d = fmin(x, fmax(p.fund_size - f.called - f.sub_out, 0.0))
        f.called += d
        o.ledger[C_CALLS * N + m] += d
        if x - d > 0.0:
            sub_draw(f, o, N, x - d)


cdef void covenant(const LedgerParams* p, Fund* f, Book* o, Py_ssize_t N) noexcept nogil:
    """2b. Before month M: drawn above ltv_covenant x the fair value of the live loans is a
    breach (no new draws this month); cash on hand (this month's proceeds after fees, and
    what the fund holds) repays the facility until back under; the reinvestment earmark
    shrinks by what the sweep takes."""
    cdef int m = f.m
    cdef f8 excess, x
    f.breach = 0
    if not p.nav_on or m >= p.months or f.nav_out <= 0.0:
        return
    excess = f.nav_out - p.nav_covenant * f.nav_loans[m]
    if excess <= 0.0:
        return
    f.breach = 1
    lev_row(o, L_BREACH, N)[m] = 1.0
    x = fmin(excess, f.cash)
    f.nav_out -= x
    f.cash -= x
    f.earmark = fmax(f.earmark - x, 0.0)
    lev_row(o, L_NAV_REPAID, N)[m] += x
    o.ledger[C_DSERV * N + m] += x


cdef inline void line_settle(Fund* f) noexcept nogil:
    """Set the line's balance to the sum of its draws still owed, oldest first (a running
    balance would drift by rounding, even below 0, and charge interest on the residue)."""
    cdef Py_ssize_t q
    cdef f8 x = 0.0
    for q in range(f.sub_head, f.m + 1):
        x += f.sub_due[q]
    f.sub_out = x


cdef inline void sub_repaid(Fund* f, Book* o, Py_ssize_t N, f8 x) noexcept nogil:
    """Record $x of line principal repaid this month (by a call or from cash)."""
    f.sub_out -= x
    lev_row(o, L_SUB_REPAID, N)[f.m] += x
    o.ledger[C_DSERV * N + f.m] += x


cdef void sub_repay_due(const LedgerParams* p, Fund* f, Book* o, Py_ssize_t N) noexcept nogil:
    """2c. The line's draws made sub_months ago (every draw at fund end) are repaid by a
    capital call, from cash if the commitments cannot; what neither can pay stays drawn (due
    again sub_months later; at fund end a lender loss)."""
    cdef int m = f.m
    cdef Py_ssize_t q
    cdef f8 due = 0.0, d
    if not p.sub_on:
        return
    while f.sub_head < m and f.sub_due[f.sub_head] == 0.0:
        f.sub_head += 1
    for q in range(f.sub_head, m + 1):
        if q + p.sub_months > m and m < p.months:
            break
        due += f.sub_due[q]
        f.sub_due[q] = 0.0
    if due <= 0.0:
        return
    d = fmin(due, fmax(p.fund_size - f.called - (f.sub_out - due), 0.0))
    f.called += d
    o.ledger[C_CALLS * N + m] += d
    sub_repaid(f, o, N, d)
    due -= d
    d = fmin(due, f.cash)
    f.cash -= d
    sub_repaid(f, o, N, d)
    f.sub_due[m] += due - d
    line_settle(f)


cdef f8 repay_lenders(const LedgerParams* p, Fund* f, Book* o, Py_ssize_t N,
                      f8 free) noexcept nogil:
    """4a. At a distribution, free cash ($) repays the NAV facility, then the line (oldest
    draws first), before the tranches and any equity distribution; at fund end what stays
    owed is the lenders' loss, written off. Returns the free cash left."""
    cdef int m = f.m
    cdef Py_ssize_t q
    cdef f8 x
    if p.nav_on and free > 0.0:
        x = fmin(free, f.nav_out)
        f.nav_out -= x
        f.cash -= x
        free -= x
        lev_row(o, L_NAV_REPAID, N)[m] += x
        o.ledger[C_DSERV * N + m] += x
    if p.sub_on:
        for q in range(f.sub_head, m + 1):
            if free <= 0.0:
                break
            x = fmin(free, f.sub_due[q])
            f.sub_due[q] -= x
            f.cash -= x
            free -= x
            sub_repaid(f, o, N, x)
        line_settle(f)
    if m == p.months:  # the line's loss is what its draws still owe (no running-sum drift)
        x = 0.0
        for q in range(f.sub_head, m + 1):
            x += f.sub_due[q]
            f.sub_due[q] = 0.0
        lev_row(o, L_LOSS, N)[m] = f.nav_out + x
        f.nav_out = 0.0
        f.sub_out = 0.0
    return free
