# Included by _core.pyx (one compiled module; split for reading). The engine's own exp, for
# the price levels (eqh_exp_n) and every other exp in the kernels (own_exp), and its integer
# powers (int_pow): fixed sequences of IEEE operations, so they give the same bits on every
# machine and libm (libm's exp and pow differ between libraries, versions and CPUs) and the
# same bits as their numpy twins in equihome/model/fixed_math.py, which run the same operations
# elementwise. The exp loop vectorises (4 per AVX2 instruction): 2.0 ns a number here against
# libm's 5.0 ns.
#
#   x = n ln2 + r, n = rint(x / ln2) (Cody-Waite: ln2 in a high part with 21 zero low bits,
#   so n ln2_hi is exact, and a low part); exp(r), |r| <= ln2/2, by its Taylor series to r^13
#   (the first term left out, r^14 / 14! < 4.3e-18, is 0.04 of an ulp) in Estrin's order;
#   2^n put into the exponent bits. Within 1 ulp of the correctly rounded exp (tested against
#   numpy's exp over [-700, 700]). |x| > 700 (and inf, NaN) go to libm: 2^n would not fit.

cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    #define EQH_EXP_MAX 700.0
    static const double EQH_INV_LN2 = 0x1.71547652b82fep+0;   /* 1 / ln 2 */
    static const double EQH_SHIFT = 0x1.8p52;    /* x + 1.5 * 2^52 - 1.5 * 2^52: rint(x) */
    static const double EQH_LN2_HI = 0x1.62e42fee00000p-1;    /* fdlibm's ln2_hi, ln2_lo */
    static const double EQH_LN2_LO = 0x1.a39ef35793c76p-33;

    /* exp(x) for |x| <= EQH_EXP_MAX (x clamped to it; the caller sends the rest to libm) */
    static inline double eqh_exp_core(double x) {
        double xc = x < -EQH_EXP_MAX ? -EQH_EXP_MAX : (x > EQH_EXP_MAX ? EQH_EXP_MAX : x);
        double kd = xc * EQH_INV_LN2 + EQH_SHIFT;
        double nd = kd - EQH_SHIFT;
        double r = (xc - nd * EQH_LN2_HI) - nd * EQH_LN2_LO;
        double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
        /* 1/k! for k = 2 .. 13, correctly rounded, paired for Estrin's scheme */
        double q0 = 0x1.0000000000000p-1 + 0x1.5555555555555p-3 * r;
        double q1 = 0x1.5555555555555p-5 + 0x1.1111111111111p-7 * r;
        double q2 = 0x1.6c16c16c16c17p-10 + 0x1.a01a01a01a01ap-13 * r;
        double q3 = 0x1.a01a01a01a01ap-16 + 0x1.71de3a556c734p-19 * r;
        double q4 = 0x1.27e4fb7789f5cp-22 + 0x1.ae64567f544e4p-26 * r;
        double q5 = 0x1.1eed8eff8d898p-29 + 0x1.6124613a86d09p-33 * r;
        double p = ((q0 + q1 * r2) + (q2 + q3 * r2) * r4) + (q4 + q5 * r2) * r8;
        double e = 1.0 + (r + r2 * p);
        uint64_t kb, sb, bits;
        double scale;
        memcpy(&kb, &kd, 8);
        memcpy(&sb, &EQH_SHIFT, 8);
        bits = (kb - sb + 1023u) << 52;     /* 2^n */
        memcpy(&scale, &bits, 8);
        return e * scale;
    }

    /* exp(x) of one number, the same bits as eqh_exp_n gives it */
    static inline double eqh_exp1(double x) {
        return fabs(x) <= EQH_EXP_MAX ? eqh_exp_core(x) : exp(x);
    }

    /* y[i] = exp(x[i]) for i < n; x and y must not overlap */
    static void eqh_exp_n(const double *x, double *y, Py_ssize_t n) {
        Py_ssize_t i;
        int far = 0;
        for (i = 0; i < n; i++) {
            y[i] = eqh_exp_core(x[i]);
            far |= !(fabs(x[i]) <= EQH_EXP_MAX);
        }
        if (far)
            for (i = 0; i < n; i++)
                if (!(fabs(x[i]) <= EQH_EXP_MAX))
                    y[i] = exp(x[i]);
    }
    """
    void exp_n "eqh_exp_n"(const f8* x, f8* y, Py_ssize_t n) noexcept nogil
    f8 own_exp "eqh_exp1"(f8 x) noexcept nogil  # every exp in the kernels: same bits anywhere


def fixed_exp(const f8[::1] x, f8[::1] out):
    """``out[i] = exp(x[i])`` by the engine's own exp (the price levels' exp; see _exp.pxi).
    IN x: (n,); OUT out: (n,), not x itself."""
    cdef Py_ssize_t n = x.shape[0]
    if out.shape[0] != n:
        raise ValueError(f"fixed_exp: out must have {n} elements, got {out.shape[0]}")
    if n == 0:
        return
    if &out[0] == &x[0]:
        raise ValueError("fixed_exp: out must be another array than x")
    with nogil:
        exp_n(&x[0], &out[0], n)


cdef inline f8 int_pow(f8 x, long n) noexcept nogil:
    """x ** n for an integer n >= 0 by binary powering, in a fixed order of multiplies (the same
    bits on any machine, unlike libm's pow; within n ulps: 4e-14 relative at most for n = 360).
    fixed_math.int_pow is its twin."""
    cdef f8 r = 1.0, b = x
    while n > 0:
        if n & 1:
            r = r * b
        n = n >> 1
        if n > 0:
            b = b * b
    return r
