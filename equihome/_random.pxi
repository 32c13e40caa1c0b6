# Included by _core.pyx (one compiled module; split for reading). Counter-based random streams.

# --------------------------------------------------------------------------- random streams
#
# Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11; the
# Random123 library): a 2-word key, a 4-word counter, 10 rounds, 32-bit words. Block j of a
# stream encrypts the counter (j, w1, w2, w3) and gives two 64-bit words, x0 + 2**32 x1 then
# x2 + 2**32 x3. PHILOX_BLOCKS blocks are encrypted at once (philox4x32_16: four sets of 4 in
# AVX2 registers, a 32-bit word to a 64-bit lane, where the build has AVX2; one block at a time
# otherwise), which changes the speed, not the words. The stream is wrapped as numpy's
# bitgen_t, so numpy's own C samplers (c_distributions: ziggurat normals, exponentials, 53-bit
# uniforms) turn its words into numbers; the hot samplers, stream_normals,
# stream_exponentials and stream_uniforms, run numpy's ziggurat fast paths and 53-bit uniform
# inline and hand a rare rejected word to numpy's own sampler, which reads it again, so every
# number stays numpy's. equihome/model/streams.py is the numpy twin:
# the same words (Philox4x32 in numpy) under the same numpy samplers.
#
# Stream of (seed, scenario s, purpose p, pool block b), the scheme streams.py documents:
#   key     = SplitMix64's first output from state ``seed``: (low 32 bits, high 32 bits)
#   counter = (j, p + 256 b, s mod 2**32, s >> 32) for block j = 0, 1, ... (p < 256,
#             b < 2**24; b is the loan pool's block index, 0 elsewhere)
# No object per scenario: a PhiloxStream is a plain struct on the stack.

cdef extern from *:
    """
    /* Philox4x32 round multipliers and Weyl key increments (Random123's philox.h);
       SplitMix64's increment and multipliers (Steele, Lea, Flood 2014; Vigna's splitmix64.c). */
    #define EQH_PHILOX_M0 0xD2511F53u
    #define EQH_PHILOX_M1 0xCD9E8D57u
    #define EQH_PHILOX_W0 0x9E3779B9u
    #define EQH_PHILOX_W1 0xBB67AE85u
    #define EQH_SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL
    #define EQH_SPLITMIX_M1 0xBF58476D1CE4E5B9ULL
    #define EQH_SPLITMIX_M2 0x94D049BB133111EBULL

    /* Philox4x32-10 of one block: o = the bijection of ctr under key (Random123's
       philox4x32_R(10, ...)); a round multiplies words 0 and 2, then
       (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)),
       the key bumped by the Weyl words between rounds. */
    static inline void eqh_philox4x32(const uint32_t* ctr, const uint32_t* key, uint32_t* o) {
        uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
        int r;
        for (r = 0; r < 10; r++) {
            uint64_t p0 = (uint64_t)EQH_PHILOX_M0 * c0, p1 = (uint64_t)EQH_PHILOX_M1 * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
            k0 += EQH_PHILOX_W0;
            k1 += EQH_PHILOX_W1;
        }
        o[0] = c0; o[1] = c1; o[2] = c2; o[3] = c3;
    }

    #if defined(__AVX2__)
    #include <immintrin.h>
    #endif

    /* Blocks ctr[0] + b (word 0 wrapping), b = 0..15, of the stream with words 1..3 of ctr,
       as 64-bit words: block b's x0 + 2**32 x1 at out[2b], x2 + 2**32 x3 at out[2b + 1].
       With AVX2 each 32-bit word of a block sits in the low half of a 64-bit lane, four
       blocks a register, four sets interleaved: _mm256_mul_epu32 reads only the low halves
       and gives the whole 64-bit product, so a round is two multiplies, two shifts and two
       three-way XORs a set (what lies in a lane's high half never reaches a low half). */
    static inline void eqh_philox4x32_16(const uint32_t* ctr, const uint32_t* key, uint64_t* out) {
    #if defined(__AVX2__)
        const __m256i m0 = _mm256_set1_epi64x(EQH_PHILOX_M0), m1 = _mm256_set1_epi64x(EQH_PHILOX_M1);
        const __m256i lo32 = _mm256_set1_epi64x(0xFFFFFFFFLL);
        __m256i c0[4], c1[4], c2[4], c3[4];
        uint32_t k0 = key[0], k1 = key[1];
        int r, g;
        for (g = 0; g < 4; g++) {  /* set g: blocks 4g .. 4g + 3 */
            c0[g] = _mm256_add_epi64(_mm256_set1_epi64x(ctr[0]),
                                     _mm256_setr_epi64x(4 * g, 4 * g + 1, 4 * g + 2, 4 * g + 3));
            c1[g] = _mm256_set1_epi64x(ctr[1]);
            c2[g] = _mm256_set1_epi64x(ctr[2]);
            c3[g] = _mm256_set1_epi64x(ctr[3]);
        }
        for (r = 0; r < 10; r++) {
            __m256i K0 = _mm256_set1_epi64x(k0), K1 = _mm256_set1_epi64x(k1);
            for (g = 0; g < 4; g++) {
                __m256i p0 = _mm256_mul_epu32(c0[g], m0), p1 = _mm256_mul_epu32(c2[g], m1);
                c0[g] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[g]), K0);
                c2[g] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[g]), K1);
                c1[g] = p1;
                c3[g] = p0;
            }
            k0 += EQH_PHILOX_W0;
            k1 += EQH_PHILOX_W1;
        }
        for (g = 0; g < 4; g++) {  /* words (x0 | x1 << 32, x2 | x3 << 32) of each block */
            __m256i w01 = _mm256_or_si256(_mm256_and_si256(c0[g], lo32), _mm256_slli_epi64(c1[g], 32));
            __m256i w23 = _mm256_or_si256(_mm256_and_si256(c2[g], lo32), _mm256_slli_epi64(c3[g], 32));
            __m256i a = _mm256_unpacklo_epi64(w01, w23), b = _mm256_unpackhi_epi64(w01, w23);
            _mm256_storeu_si256((__m256i*)(out + 8 * g), _mm256_permute2x128_si256(a, b, 0x20));
            _mm256_storeu_si256((__m256i*)(out + 8 * g + 4), _mm256_permute2x128_si256(a, b, 0x31));
        }
    #else
        uint32_t c[4], x[4];
        int b;
        for (b = 0; b < 16; b++) {
            c[0] = ctr[0] + (uint32_t)b; c[1] = ctr[1]; c[2] = ctr[2]; c[3] = ctr[3];
            eqh_philox4x32(c, key, x);
            out[2 * b] = (uint64_t)x[0] | (uint64_t)x[1] << 32;
            out[2 * b + 1] = (uint64_t)x[2] | (uint64_t)x[3] << 32;
        }
    #endif
    }
    """
    const uint64_t SPLITMIX_GAMMA "EQH_SPLITMIX_GAMMA"
    const uint64_t SPLITMIX_M1 "EQH_SPLITMIX_M1"
    const uint64_t SPLITMIX_M2 "EQH_SPLITMIX_M2"
    void philox4x32 "eqh_philox4x32"(const uint32_t* ctr, const uint32_t* key,
                                      uint32_t* out) noexcept nogil
    void philox4x32_16 "eqh_philox4x32_16"(const uint32_t* ctr, const uint32_t* key,
                                            uint64_t* out) noexcept nogil

cdef double TWO_POW_M53 = 1.0 / 9007199254740992.0  # 2**-53: a 53-bit integer to [0, 1)


cdef inline double unit_double(uint64_t w) noexcept nogil:
    """A 64-bit word as a double in [0, 1): its top 53 bits x 2**-53 (numpy's next_double)."""
    return <double>(w >> 11) * TWO_POW_M53


cdef inline void philox_refill(PhiloxStream* st) noexcept nogil:
    """Encrypt the stream's next PHILOX_BLOCKS blocks into st.buffer (block b's two words at 2b,
    2b + 1) and advance the counter past them."""
    philox4x32_16(st.ctr, st.key, st.buffer)
    st.ctr[0] += PHILOX_BLOCKS
    st.buffer_pos = 0


cdef inline uint64_t splitmix64(uint64_t* state) noexcept nogil:
    """Next output of SplitMix64 (advances ``state`` by its increment)."""
    state[0] = state[0] + SPLITMIX_GAMMA
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * SPLITMIX_M1
    z = (z ^ (z >> 27)) * SPLITMIX_M2
    return z ^ (z >> 31)


cdef inline void stream_key(uint64_t seed, uint32_t* key) noexcept nogil:
    """The run's Philox key from its seed: SplitMix64's first output from state ``seed``, low
    32 bits then high (a bijection: distinct seeds, distinct keys)."""
    cdef uint64_t state = seed
    cdef uint64_t k = splitmix64(&state)
    key[0] = <uint32_t>k
    key[1] = <uint32_t>(k >> 32)


cdef inline void stream_init(PhiloxStream* st, const uint32_t* key, uint64_t scenario,
                             uint64_t purpose, uint64_t block) noexcept nogil:
    """Place ``st`` at the start of the stream of (key, scenario, purpose < 256, pool block
    < 2**24): counter (0, purpose + 256 block, scenario's low and high words), empty buffer."""
    st.key[0] = key[0]
    st.key[1] = key[1]
    st.ctr[0] = 0
    st.ctr[1] = <uint32_t>(purpose | (block << 8))
    st.ctr[2] = <uint32_t>scenario
    st.ctr[3] = <uint32_t>(scenario >> 32)
    st.buffer_pos = PHILOX_BUF
    st.has_uint32 = 0
    st.uinteger = 0


cdef inline uint64_t stream_next64(void* p) noexcept nogil:
    """Next 64-bit word: from the buffer, else encrypt the next PHILOX_BLOCKS blocks."""
    cdef PhiloxStream* st = <PhiloxStream*>p
    if st.buffer_pos == PHILOX_BUF:
        philox_refill(st)
    st.buffer_pos += 1
    return st.buffer[st.buffer_pos - 1]


cdef uint32_t stream_next32(void* p) noexcept nogil:
    """Next 32-bit word: the low half of a 64-bit word, its high half on the next call."""
    cdef PhiloxStream* st = <PhiloxStream*>p
    cdef uint64_t w
    if st.has_uint32:
        st.has_uint32 = 0
        return st.uinteger
    w = stream_next64(p)
    st.has_uint32 = 1
    st.uinteger = <uint32_t>(w >> 32)
    return <uint32_t>w  # the low 32 bits


cdef double stream_next_double(void* p) noexcept nogil:
    """Next double in [0, 1): the top 53 bits of a 64-bit word times 2**-53."""
    return unit_double(stream_next64(p))


# numpy's ziggurat for the standard normal, as its sampler reads one 64-bit word r: idx = the
# low 8 bits, then a sign bit, then rabs = the next 52 bits; x = rabs * ZIG_W[idx], negated
# when the sign bit is set, is accepted when rabs < ZIG_K[idx] (about 99 % of words). The two
# tables are numpy's own, read off its sampler once at import (ziggurat_tables).
#
# numpy's ziggurat for the standard exponential reads one word r as idx = bits 3..10 and
# ri = r >> 11 (53 bits); x = ri * EXP_W[idx] is accepted when ri < EXP_K[idx] (about 98 %),
# the tables read off its sampler the same way.
cdef f8 ZIG_W[256]
cdef uint64_t ZIG_K[256]
cdef f8 EXP_W[256]
cdef uint64_t EXP_K[256]
cdef uint64_t RABS_END = 1 << 52   # rabs < 2**52
cdef uint64_t RABS_MASK = RABS_END - 1
cdef uint64_t RI_END = 1 << 53     # ri < 2**53
cdef f8[2] SIGN = [1.0, -1.0]


cdef inline f8 stream_uniform(PhiloxStream* st) noexcept nogil:
    """Next uniform in [0, 1) of the stream: numpy's next_double (top 53 bits x 2**-53)."""
    return unit_double(stream_next64(st))


cdef void stream_normals(PhiloxStream* st, bitgen_t* bg, Py_ssize_t n, f8* out) noexcept nogil:
    """out[0:n] = the stream's next n standard normals, numpy's random_standard_normal_fill
    bit for bit: its ziggurat's fast path inline; a rejected word is left unread for numpy's
    own sampler (on ``bg``, which wraps ``st``), which reads it again and goes on exactly as
    it always does. The buffer position is kept in a local, stored back to the stream only
    around the calls that read it (the refill, numpy's sampler)."""
    cdef Py_ssize_t i
    cdef int pos = st.buffer_pos, idx
    cdef uint64_t r, rabs
    for i in range(n):
        if pos == PHILOX_BUF:
            philox_refill(st)
            pos = 0
        r = st.buffer[pos]
        idx = <int>(r & 0xFF)
        rabs = (r >> 9) & RABS_MASK
        if rabs < ZIG_K[idx]:
            out[i] = <f8>rabs * ZIG_W[idx] * SIGN[(r >> 8) & 1]  # x -1.0: no branch
            pos += 1
        else:
            st.buffer_pos = pos
            out[i] = random_standard_normal(bg)
            pos = st.buffer_pos
    st.buffer_pos = pos


cdef void stream_exponentials(PhiloxStream* st, bitgen_t* bg, Py_ssize_t n,
                             f8* out) noexcept nogil:
    """out[0:n] = the stream's next n standard exponentials, numpy's
    random_standard_exponential_fill bit for bit, as stream_normals does the normals: the
    fast path inline, a rejected word left for numpy's own sampler."""
    cdef Py_ssize_t i
    cdef int pos = st.buffer_pos, idx
    cdef uint64_t r, ri
    for i in range(n):
        if pos == PHILOX_BUF:
            philox_refill(st)
            pos = 0
        r = st.buffer[pos]
        idx = <int>((r >> 3) & 0xFF)
        ri = r >> 11
        if ri < EXP_K[idx]:
            out[i] = <f8>ri * EXP_W[idx]
            pos += 1
        else:
            st.buffer_pos = pos
            out[i] = random_standard_exponential(bg)
            pos = st.buffer_pos
    st.buffer_pos = pos


cdef void stream_uniforms(PhiloxStream* st, Py_ssize_t n, f8* out) noexcept nogil:
    """out[0:n] = the stream's next n uniforms in [0, 1) (numpy's random_standard_uniform_fill),
    the buffer position in a local as in stream_normals."""
    cdef Py_ssize_t i
    cdef int pos = st.buffer_pos
    for i in range(n):
        if pos == PHILOX_BUF:
            philox_refill(st)
            pos = 0
        out[i] = unit_double(st.buffer[pos])
        pos += 1
    st.buffer_pos = pos


cdef struct ZigProbe:
    # a bit generator that hands out ``first``, then the words of ``tail``, counting them
    uint64_t first
    int used
    PhiloxStream tail


cdef uint64_t probe_next64(void* p) noexcept nogil:
    """ZigProbe's next word: ``first`` once, then its tail stream's."""
    cdef ZigProbe* pr = <ZigProbe*>p
    pr.used += 1
    return pr.first if pr.used == 1 else stream_next64(&pr.tail)


cdef uint32_t probe_next32(void* p) noexcept nogil:
    """ZigProbe's next 32-bit word (the low half of its next word; numpy's normal reads none)."""
    return <uint32_t>probe_next64(p)


cdef double probe_next_double(void* p) noexcept nogil:
    """ZigProbe's next double in [0, 1)."""
    return unit_double(probe_next64(p))


cdef bint probe_accepts(bitgen_t* bg, ZigProbe* pr, bint normal, int idx, uint64_t v,
                        f8* x) noexcept nogil:
    """1 if numpy's normal (``normal``) or exponential sampler returns ``x`` from the single
    word of layer idx and value v (the normal's rabs, sign +; the exponential's ri)."""
    pr.first = (<uint64_t>idx | (v << 9)) if normal else ((<uint64_t>idx << 3) | (v << 11))
    pr.used = 0
    x[0] = random_standard_normal(bg) if normal else random_standard_exponential(bg)
    return pr.used == 1


cdef void probe_table(bitgen_t* bg, ZigProbe* pr, bint normal, f8* W,
                      uint64_t* K) noexcept nogil:
    """Read one sampler's ziggurat tables: W[idx] is what it returns for the value 1; K[idx]
    the least value it rejects (binary search, acceptance being value < K[idx]; the value's
    end, 2**52 or 2**53, if it rejects none). A layer rejecting (almost) every word gets W 0
    and K 1 or 0."""
    cdef uint64_t lo, hi, mid, end = RABS_END if normal else RI_END
    cdef f8 x
    cdef int idx
    for idx in range(256):
        if not probe_accepts(bg, pr, normal, idx, 1, &x):
            W[idx] = 0.0  # only ever times a value of 0
            K[idx] = 1 if probe_accepts(bg, pr, normal, idx, 0, &x) else 0
            continue
        W[idx] = x
        lo, hi = 1, end
        while hi - lo > 1:  # accepted at lo, rejected at hi (or hi = the end, past every value)
            mid = lo + (hi - lo) // 2
            if probe_accepts(bg, pr, normal, idx, mid, &x):
                lo = mid
            else:
                hi = mid
        K[idx] = hi


cdef int ziggurat_tables() except -1:
    """Read numpy's ziggurat tables off its own samplers: ZIG_W, ZIG_K of the normal (numpy's
    layer 1 rejects every word), EXP_W, EXP_K of the exponential. test_streams holds
    stream_normals and stream_exponentials to numpy bit for bit."""
    cdef ZigProbe pr
    cdef bitgen_t bg
    cdef uint32_t key[2]
    stream_key(20261204, key)  # any stream: its words only feed the rejection paths probed
    stream_init(&pr.tail, key, 0, 0, 0)
    bg.state = <void*>&pr
    bg.next_uint64 = &probe_next64
    bg.next_uint32 = &probe_next32
    bg.next_double = &probe_next_double
    bg.next_raw = &probe_next64
    probe_table(&bg, &pr, 1, ZIG_W, ZIG_K)
    probe_table(&bg, &pr, 0, EXP_W, EXP_K)
    return 0


ziggurat_tables()


def ziggurat_table(str kind="normal"):
    """(W, K): copies of the ziggurat tables read off numpy's sampler of ``kind`` ("normal" or
    "exponential"), (256,) float64 and uint64; a word takes the inline fast path when its
    value (the normal's rabs, the exponential's ri) is below K[idx]."""
    if kind == "normal":
        return (np.array(<f8[:256]>ZIG_W), np.array(<uint64_t[:256]>ZIG_K))
    if kind == "exponential":
        return (np.array(<f8[:256]>EXP_W), np.array(<uint64_t[:256]>EXP_K))
    raise ValueError(f"kind: must be 'normal' or 'exponential', got {kind!r}")


cdef inline void stream_bitgen(PhiloxStream* st, bitgen_t* bg) noexcept nogil:
    """Wrap ``st`` as numpy's bitgen_t, for the samplers of numpy.random.c_distributions."""
    bg.state = <void*>st
    bg.next_uint64 = &stream_next64
    bg.next_uint32 = &stream_next32
    bg.next_double = &stream_next_double
    bg.next_raw = &stream_next64


cdef uint64_t as_u64(str name, object value, object limit=None,
                     str bound="2**64") except? 0:
    """``value`` as an unsigned word below ``limit`` (2**64 if None; written ``bound`` in the
    message); ValueError naming ``name`` when out of range (streams.check_word is the twin)."""
    if limit is None:
        limit = 2 ** 64
    if not hasattr(type(value), "__index__") or not 0 <= value < limit:
        raise ValueError(f"{name}: must be an integer in [0, {bound}), got {value!r}")
    return <uint64_t>value.__index__()


def philox_block(const uint32_t[::1] ctr, const uint32_t[::1] key, uint32_t[::1] out):
    """One Philox4x32-10 block: ``out`` (4,) = bijection of ``ctr`` (4,) under ``key`` (2,).

    The raw function of the Random123 known-answer vectors.
    """
    if ctr.shape[0] != 4 or key.shape[0] != 2 or out.shape[0] != 4:
        raise ValueError(f"philox_block: ctr, key, out must have 4, 2, 4 words, got "
                         f"{ctr.shape[0]}, {key.shape[0]}, {out.shape[0]}")
    with nogil:
        philox4x32(&ctr[0], &key[0], &out[0])


def philox_key(seed):
    """The stream key (k0, k1) of a run seed (0 <= seed < 2**64), as two 32-bit Python ints."""
    cdef uint32_t key[2]
    stream_key(as_u64("seed", seed), key)
    return key[0], key[1]


cdef int raw_stream(PhiloxStream* st, const uint32_t[::1] key,
                    const uint32_t[::1] counter) except -1:
    """Place ``st`` at the stream whose first block encrypts ``counter`` (4,) under ``key`` (2,)."""
    if key.shape[0] != 2 or counter.shape[0] != 4:
        raise ValueError(f"key and counter: must have 2 and 4 words, got {key.shape[0]} "
                         f"and {counter.shape[0]}")
    stream_init(st, &key[0], 0, 0, 0)
    st.ctr[0], st.ctr[1], st.ctr[2], st.ctr[3] = counter[0], counter[1], counter[2], counter[3]
    return 0


def fill_raw(const uint32_t[::1] key, const uint32_t[::1] counter, uint64_t[::1] out):
    """``out`` (n,) = the first n 64-bit words of the stream from (key, counter): blocks
    counter, counter + (1, 0, 0, 0), ... (word 0 wrapping), two words each (streams.raw_words)."""
    cdef PhiloxStream st
    cdef Py_ssize_t i
    raw_stream(&st, key, counter)
    with nogil:
        for i in range(out.shape[0]):
            out[i] = stream_next64(&st)


def fill_raw32(const uint32_t[::1] key, const uint32_t[::1] counter, uint32_t[::1] out):
    """``out`` (n,) = the first n 32-bit words from (key, counter): each 64-bit word's low
    half, then its high half (numpy's next_uint32)."""
    cdef PhiloxStream st
    cdef Py_ssize_t i
    raw_stream(&st, key, counter)
    with nogil:
        for i in range(out.shape[0]):
            out[i] = stream_next32(&st)


cdef int check_rows(uint64_t scenario_start, Py_ssize_t S) except -1:
    """ValueError unless scenarios scenario_start .. scenario_start + S - 1 all exist."""
    if S > 0 and scenario_start > UINT64_MAX - <uint64_t>(S - 1):
        raise ValueError(f"scenario_start: {scenario_start} + {S} rows passes the last "
                         f"scenario index 2**64 - 1")
    return 0


cdef enum:
    FILL_UNIFORMS = 0
    FILL_NORMALS = 1
    FILL_EXPONENTIALS = 2


cdef int fill_rows(uint64_t seed, uint64_t purpose, uint64_t scenario_start, f8[:, ::1] out,
                   int kind) except -1:
    """Row r of ``out`` = the first out.shape[1] uniforms in [0, 1), standard normals or
    standard exponentials (``kind``, FILL_*) of the stream (seed, scenario_start + r, purpose)."""
    cdef uint32_t key[2]
    cdef PhiloxStream st
    cdef bitgen_t bg
    cdef Py_ssize_t r, S = out.shape[0], n = out.shape[1]
    if S == 0 or n == 0:
        return 0
    check_rows(scenario_start, S)
    stream_key(seed, key)
    stream_bitgen(&st, &bg)
    with nogil:
        for r in range(S):
            stream_init(&st, key, scenario_start + <uint64_t>r, purpose, 0)
            if kind == FILL_NORMALS:
                stream_normals(&st, &bg, n, &out[r, 0])
            elif kind == FILL_EXPONENTIALS:
                stream_exponentials(&st, &bg, n, &out[r, 0])
            else:
                stream_uniforms(&st, n, &out[r, 0])
    return 0
    check_rows(scenario_start, S)
    stream_key(seed, key)
    stream_bitgen(&st, &bg)
    with nogil:
        for r in range(S):
            stream_init(&st, key, scenario_start + <uint64_t>r, purpose, 0)
            if normal:
                stream_normals(&st, &bg, n, &out[r, 0])
            else:
                stream_uniforms(&st, n, &out[r, 0])
    return 0


def fill_normals(seed, purpose, scenario_start, f8[:, ::1] out):
    """Standard normals: row r of ``out`` (S, n) is scenario ``scenario_start + r``'s stream
    ``purpose`` under ``seed`` (numpy's ziggurat on Philox4x32-10; streams.fill_normals is
    the numpy twin, bit for bit). Runs without the GIL."""
    fill_rows(as_u64("seed", seed), as_u64("purpose", purpose, 256, "256"),
              as_u64("scenario_start", scenario_start), out, FILL_NORMALS)


def fill_uniforms(seed, purpose, scenario_start, f8[:, ::1] out):
    """Uniforms in [0, 1) (53-bit): as :func:`fill_normals`, numpy's ``Generator.random``."""
    fill_rows(as_u64("seed", seed), as_u64("purpose", purpose, 256, "256"),
              as_u64("scenario_start", scenario_start), out, FILL_UNIFORMS)


def fill_exponentials(seed, purpose, scenario_start, f8[:, ::1] out):
    """Standard exponentials: as :func:`fill_normals`, numpy's ``standard_exponential`` (the
    loan pools' exit-race draws)."""
    fill_rows(as_u64("seed", seed), as_u64("purpose", purpose, 256, "256"),
              as_u64("scenario_start", scenario_start), out, FILL_EXPONENTIALS)
