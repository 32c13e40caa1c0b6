"""exp, log and integer powers by fixed sequences of IEEE operations: the same bits anywhere.

libm's and numpy's exp, log and pow are chosen at run time by CPU (glibc's FMA variants,
numpy's AVX-512 loops) and differ in their last bits between machines. The engine's numbers
take their exp and integer powers from here (and from ``equihome/_exp.pxi``, whose twins
these are: the same operations in the same order), so a seed gives the same bits anywhere.
"""

from __future__ import annotations

import numpy as np

# fixed_exp's constants (see _exp.pxi): 1/ln 2, the rint shift 1.5 * 2^52, ln 2 in two parts,
# and 1/k! for k = 2 .. 13 paired for Estrin's scheme
EXP_MAX = 700.0
SQRT_HALF = float.fromhex("0x1.6a09e667f3bcdp-1")  # sqrt(1/2), rounded
INV_LN2, SHIFT = float.fromhex("0x1.71547652b82fep+0"), float.fromhex("0x1.8p52")
LN2_HI, LN2_LO = float.fromhex("0x1.62e42fee00000p-1"), float.fromhex("0x1.a39ef35793c76p-33")
EXP_PAIRS = [tuple(float.fromhex(h) for h in pair) for pair in (
    ("0x1.0000000000000p-1", "0x1.5555555555555p-3"),
    ("0x1.5555555555555p-5", "0x1.1111111111111p-7"),
    ("0x1.6c16c16c16c17p-10", "0x1.a01a01a01a01ap-13"),
    ("0x1.a01a01a01a01ap-16", "0x1.71de3a556c734p-19"),
    ("0x1.27e4fb7789f5cp-22", "0x1.ae64567f544e4p-26"),
    ("0x1.1eed8eff8d898p-29", "0x1.6124613a86d09p-33"))]


def exp_values(x):
    """exp of an array by the kernel's own operations, in the same order; see ``_exp.pxi``."""
    x = np.asarray(x, dtype=float)
    xc = np.clip(x, -EXP_MAX, EXP_MAX)
    kd = xc * INV_LN2 + SHIFT
    nd = kd - SHIFT
    r = (xc - nd * LN2_HI) - nd * LN2_LO
    r2 = r * r
    r4 = r2 * r2
    q = [c0 + c1 * r for c0, c1 in EXP_PAIRS]
    p = ((q[0] + q[1] * r2) + (q[2] + q[3] * r2) * r4) + (q[4] + q[5] * r2) * (r4 * r4)
    e = 1.0 + (r + r2 * p)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # uint64 wraps on purpose
        n = kd.view(np.uint64) - np.float64(SHIFT).view(np.uint64)  # rint(x / ln 2), 2's complement
        bits = (n + np.uint64(1023)) << np.uint64(52)               # 2^n
        return np.where(np.abs(x) <= EXP_MAX, e * bits.view(np.float64), np.exp(x))


LOG_TERMS = 12  # 2 atanh(f) = 2 (f + f^3/3 + ... + f^23/23): the next term is < 1e-19 of f


def log_values(x):
    """Natural log of an array by fixed operations (within 2 ulps; 0 -> -inf, x < 0 and NaN
    -> NaN, inf -> inf): x = m 2^e with m in [sqrt(1/2), sqrt(2)), f = (m - 1) / (m + 1),
    log m = 2 atanh f by its series to f^23 (|f| <= 0.172), e ln 2 in fdlibm's two parts."""
    x = np.asarray(x, dtype=float)
    m, e = np.frexp(np.where((x > 0.0) & (x < np.inf), x, 1.0))  # exact: x = m 2^e, m in [0.5, 1)
    low = m < SQRT_HALF
    m = np.where(low, 2.0 * m, m)
    e = (e - low).astype(float)
    f = (m - 1.0) / (m + 1.0)
    s = f * f
    poly = np.full_like(s, 1.0 / (2 * LOG_TERMS - 1))
    for k in range(LOG_TERMS - 2, 0, -1):
        poly = 1.0 / (2 * k + 1) + s * poly
    out = e * LN2_HI + (2.0 * f + (e * LN2_LO + 2.0 * f * (s * poly)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0.0, np.where(np.isinf(x), np.inf, out),
                        np.where(x == 0.0, -np.inf, np.nan))


def fixed_exp(x, out):
    """The engine's own exp; see ``_core.fixed_exp``."""
    out[...] = exp_values(x)


def int_pow(x, n):
    """x ** n for integers n >= 0 (arrays elementwise) by the kernel's binary powering, within
    n ulps of the exact power; see ``_exp.pxi``'s int_pow."""
    x = np.asarray(x, dtype=float)
    if np.ndim(n) == 0:  # one exponent: the same multiplies, decided in Python
        k, r, b = int(n), np.ones(x.shape), x
        while k > 0:
            if k & 1:
                r = r * b
            k >>= 1
            if k > 0:
                b = b * b
        return r
    n = np.asarray(n, dtype=np.int64)
    r = np.ones(np.broadcast(x, n).shape)
    b = np.broadcast_to(x, r.shape).copy()
    n = np.broadcast_to(n, r.shape).copy()
    while (n > 0).any():
        r = np.where(n & 1, r * b, r)
        n = n >> 1
        b = np.where(n > 0, b * b, b)
    return r


def month_growth(annual: float) -> float:
    """(1 + annual)^(1/12), the monthly growth factor of an annual rate (one libm pow)."""
    return (1.0 + annual) ** (1.0 / 12.0)
