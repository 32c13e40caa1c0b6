# Included by _core.pyx (one compiled module; split for reading). The waterfalls: european and american.

# --------------------------------------------------------------------------- waterfall


cdef inline f8 entitlement(f8 profit, f8 pref, f8 catch_up, f8 carry) noexcept nogil:
    """GP carry ($) on a cumulative LP profit ($) of which ``pref`` ($) is preferred return.

    Tiers on the profit: the pref to the LPs, catch-up at ``catch_up`` until the GP holds
    ``carry`` of the profit so far, then the split; 0 while the profit is within the pref.
    """
    cdef f8 r = profit - pref, x, g = 0.0
    if r <= 0.0:
        return 0.0
    if catch_up > carry:
        x = fmin(r, carry * pref / (catch_up - carry))
        g = catch_up * x
        r = r - x
    return g + carry * r


cdef inline f8 carry_cap(f8 npv, f8 called, f8 entitled, f8 offset_fees) noexcept nogil:
    """Most carry ($) the GP may keep at fund end: 0 when the LPs' whole-life flows before
    carry miss the hurdle (NPV at the pref rate < 0), else the final entitlement less the
    fee offset."""
    if npv < -1e-9 * fmax(called, 1.0):
        return 0.0
    return fmax(entitled - offset_fees, 0.0)


cdef inline f8 settle(f8 over, int clawback, f8* lp_last, f8* gp_last) noexcept nogil:
    """Claw ``over`` ($ of carry above the cap) back in the last month and return 0, or,
    without clawback, return it as excess carry (nothing to settle when over <= 0)."""
    if over <= 0.0:
        return 0.0
    if not clawback:
        return over
    gp_last[0] = gp_last[0] - over
    lp_last[0] = lp_last[0] + over
    return 0.0


def waterfall_european(const f8[:, ::1] calls, const f8[:, ::1] dist, const f8[:, ::1] fees,
                       f8 lp_share, f8 growth_m, f8 catch_up, f8 carry, f8 offset, int clawback,
                       f8[:, ::1] lp_dist, f8[:, ::1] gp_carry, f8[::1] excess):
    """Whole-fund waterfall on cumulative, dated monthly flows, with true-up and clawback.

    IN calls, dist (S, N): the fund's equity calls and distributions, $; the LP side is
    ``lp_share`` of each (the GP's own commitment goes pari passu, carry free). IN fees
    (S, N): management fees charged, $ (``offset`` x their running sum reduces carry).
    The pref compounds by ``growth_m`` a month on unreturned capital and unpaid pref from
    each call's month (distributions pay capital, then pref). At each distribution the
    GP's entitlement is recomputed on the cumulative flows to date (profit so far, all
    pref accrued so far): carry paid never runs ahead of it, so capital called after
    carry was paid is returned with its pref before more carry. At fund end the GP keeps
    at most its final entitlement, and nothing if the LPs' whole-life IRR before carry is
    below the hurdle; the excess is clawed back to the LPs in the last month when
    ``clawback`` (a negative gp_carry), else reported in OUT ``excess`` (S,), $.
    OUT lp_dist, gp_carry (S, N), $: lp_dist + gp_carry = lp_share * dist.
    """
    cdef Py_ssize_t S = calls.shape[0], N = calls.shape[1], s, m
    cdef f8 C, P, pref, D, Dcum, Ccum, paid, fcum, x, gp, accr, npv, disc, over
    with nogil:
        for s in range(S):
            C = 0.0
            P = 0.0
            pref = 0.0
            Dcum = 0.0
            Ccum = 0.0
            paid = 0.0
            fcum = 0.0
            npv = 0.0
            disc = 1.0
            for m in range(N):
                if m > 0:
                    accr = (C + P) * (growth_m - 1.0)
                    P = P + accr
                    pref = pref + accr
                C = C + lp_share * calls[s, m]
                Ccum = Ccum + lp_share * calls[s, m]
                fcum = fcum + fees[s, m]
                D = lp_share * dist[s, m]
                npv = npv + (D - lp_share * calls[s, m]) * disc
                disc = disc / growth_m
                gp = 0.0
                if D > 0.0:
                    x = fmin(D, C)
                    C = C - x
                    P = P - fmin(D - x, P)
                    Dcum = Dcum + D
                    x = entitlement(Dcum - Ccum, pref, catch_up, carry)
                    gp = fmin(fmax(fmax(x - offset * fcum, 0.0) - paid, 0.0), D)
                    paid = paid + gp
                lp_dist[s, m] = D - gp
                gp_carry[s, m] = gp
            over = paid - carry_cap(npv, Ccum, entitlement(Dcum - Ccum, pref, catch_up, carry),
                                    offset * fcum)
            excess[s] = settle(over, clawback, &lp_dist[s, N - 1], &gp_carry[s, N - 1])


def waterfall_american(const f8[:, ::1] calls, const f8[:, ::1] dist, const f8[:, ::1] fees,
                       const i4[:, ::1] orig, const i4[:, ::1] receipt, const f8[:, ::1] adv,
                       const f8[:, ::1] proceeds, f8 lp_share, f8 growth_m, f8 catch_up,
                       f8 carry, f8 offset, int clawback, f8[:, ::1] lp_dist,
                       f8[:, ::1] gp_carry, f8[::1] excess):
    """Deal-by-deal waterfall: each loan is a deal, realised losses netted before carry.

    A deal's carry is earned when its cash arrives: profit first refills earlier
    realised losses, then the deal's pref (``growth_m`` per month on its advance), then
    catch-up and split. Earned carry is paid from the next distributions. At the end the
    GP keeps at most ``carry`` x the whole-fund LP profit (less the fee offset), and nothing
    if the LPs' whole-life IRR before carry is below the hurdle; the excess is returned to
    the LPs in the last month with ``clawback`` (a negative gp_carry), else reported in OUT
    ``excess`` (S,), $. Deals are visited in receipt-month order, then pool order.
    IN calls, dist, fees (S, N), $ as in waterfall_european; orig, receipt (S, K) months
    (-1: loan never made); adv, proceeds (S, K), $. OUT lp_dist, gp_carry (S, N), $.
    """
    cdef Py_ssize_t S = calls.shape[0], N = calls.shape[1], K = orig.shape[1], s, m, k
    cdef f8 loss, ent, paid, fcum, called, total_d, c, pi, pref, a, x, e, D, gp, over
    cdef f8 npv, disc
    cdef i4[:, ::1] order = np.empty((S, K), dtype=np.intc)
    cdef i4[:, ::1] start = np.empty((S, N + 1), dtype=np.intc)
    cdef Py_ssize_t i
    with nogil:
        for s in range(S):
            # counting sort of deals by receipt month
            start[s, :] = 0
            for k in range(K):
                if orig[s, k] >= 0:
                    start[s, receipt[s, k] + 1] += 1
            for m in range(N):
                start[s, m + 1] += start[s, m]
            for k in range(K):
                if orig[s, k] >= 0:
                    order[s, start[s, receipt[s, k]]] = <i4>k
                    start[s, receipt[s, k]] += 1
            # start[m] now marks the end of month m's deals; month m begins at start[m-1]
            loss = 0.0
            ent = 0.0
            paid = 0.0
            fcum = 0.0
            called = 0.0
            total_d = 0.0
            npv = 0.0
            disc = 1.0
            i = 0
            for m in range(N):
                fcum = fcum + fees[s, m]
                called = called + lp_share * calls[s, m]
                npv = npv + (lp_share * dist[s, m] - lp_share * calls[s, m]) * disc
                disc = disc / growth_m
                while i < start[s, m]:
                    k = order[s, i]
                    i = i + 1
                    c = lp_share * adv[s, k]
                    pi = lp_share * proceeds[s, k] - c
                    if pi <= 0.0:
                        loss = loss - pi
                        continue
                    pref = c * (int_pow(growth_m, receipt[s, k] - orig[s, k]) - 1.0)
                    x = fmin(pi, loss)
                    loss = loss - x
                    a = pi - x
                    x = fmin(a, pref)
                    a = a - x
                    e = 0.0
                    if a > 0.0 and catch_up > carry:
                        x = fmin(a, carry * x / (catch_up - carry))
                        e = e + catch_up * x
                        a = a - x
                    ent = ent + e + carry * a
                D = lp_share * dist[s, m]
                total_d = total_d + D
                gp = 0.0
                if D > 0.0:
                    gp = fmin(fmax(fmax(ent - offset * fcum, 0.0) - paid, 0.0), D)
                    paid = paid + gp
                lp_dist[s, m] = D - gp
                gp_carry[s, m] = gp
            over = paid - carry_cap(npv, called, carry * (total_d - called), offset * fcum)
            excess[s] = settle(over, clawback, &lp_dist[s, N - 1], &gp_carry[s, N - 1])
