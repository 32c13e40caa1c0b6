"""Counter-based random streams (Philox4x32-10): the numpy twin of ``equihome/_random.pxi``.

A run's random numbers come from one stream per (seed, scenario index, purpose), with no
generator object kept per scenario. The scheme, ``SCHEME = "philox4x32-10-v1"``:

* **key** (2 x 32 bits) = SplitMix64's first output from state ``seed`` (0 <= seed < 2**64),
  ``splitmix64(seed + g)``, g = 0x9E3779B97F4A7C15: its low 32 bits, then its high 32 bits.
  One key per run; distinct seeds give distinct keys.
* **counter** (4 x 32 bits): block j = 0, 1, ... of the stream (seed, scenario, purpose, b)
  encrypts ``(j, purpose + 256 b, scenario mod 2**32, scenario >> 32)``. b is the loan
  pool's block index (``loan_generator``: block b of a scenario's pool has its own streams,
  so a run needing more loans never changes the earlier loans' draws; a loan tape's draws
  use b = TAPE_BLOCK); it is 0 for every other purpose. purpose < 256, b < 2**24, and a
  stream holds 2**32 blocks (2**33 words, 64 GiB), far beyond any run.
* **words**: block j's four 32-bit outputs x0..x3 give two 64-bit words, ``x0 + 2**32 x1``
  then ``x2 + 2**32 x3``.
* **numbers**: numpy's own samplers on those words: ``Generator.standard_normal``
  (ziggurat), ``Generator.random`` (top 53 bits times 2**-53), ``Generator.uniform`` and
  ``Generator.standard_exponential`` (ziggurat). The Cython core runs the same C samplers
  (numpy.random.c_distributions) on the same words, so the two sides agree bit for bit.

Here Philox4x32-10 is numpy arithmetic on whole arrays of blocks (:func:`philox4x32`,
checked against Random123's known answers), and :class:`StreamBitGenerator` hands its words
to a ``numpy.random.Generator`` through numpy's bit-generator interface (the ``bitgen_t``
capsule, built with ctypes), so the samplers are numpy's, unchanged.

The scenario index is the run-wide one (0 .. n-1), never an index within a chunk, so any
scenario's draws can be regenerated alone and no result depends on chunking, threads or
backend. Purposes separate the independent inputs of one scenario (:class:`Purpose`).

Every random number of a run comes from these streams: the Cython kernels draw them
themselves, without the GIL (``_core.fill_normals``, ``fill_uniforms``, ``draw_pools``); the
numpy reference kernels draw the same numbers through this module. A result records
``"rng": SCHEME``.
"""

from __future__ import annotations

import ctypes
import threading
from enum import IntEnum
from typing import cast

import numpy as np

SCHEME = "philox4x32-10-v1"
MAX_PURPOSE = 1 << 8          # purposes 0 .. 255: counter word 1's low byte
MAX_POOL_BLOCK = 1 << 24      # pool blocks 0 .. 2**24 - 1: counter word 1's high 3 bytes
TAPE_BLOCK = MAX_POOL_BLOCK - 1  # the pool block of a loan tape's streams (pool blocks: 0, 1, ...)
MASK32 = (1 << 32) - 1
MASK64 = (1 << 64) - 1
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_M1 = 0xBF58476D1CE4E5B9
SPLITMIX_M2 = 0x94D049BB133111EB
PHILOX_M = (0xD2511F53, 0xCD9E8D57)   # round multipliers of words 0 and 2 (Random123)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)   # Weyl increments of the key words between rounds
PHILOX_ROUNDS = 10
REFILL_BLOCKS = 2048                  # blocks StreamBitGenerator encrypts at a time
TWO_POW_M53 = 1.0 / 9007199254740992.0  # a word's top 53 bits to [0, 1), as numpy's next_double


class Purpose(IntEnum):
    """Counter word 1's low byte: which of a scenario's independent inputs a stream feeds.

    Part of the scheme: a change of these numbers renames SCHEME. 0 is unused. The loan
    purposes (4-9) are drawn per pool block (counter word 1's high bytes); one purpose per
    draw kind, so the rejection redraws of a truncated normal never shift another kind's draws.
    """

    PRICES = 1         # zone shocks of the price paths, (M, Z) per scenario
    REGIME = 2         # regime-switching uniforms, (M + 1,) per scenario
    SUBURBS = 3        # suburb shocks, (M, J) per scenario
    LOAN_SIZE = 4      # advances: truncated normal, by rejection (loan_generator)
    LOAN_LTV = 5       # LTVs: truncated normal, by rejection
    LOAN_SUBURB = 6    # uniforms picking the suburb within the zone
    EXIT_RACE = 7      # Exp(1) draws of the exit race
    EXIT_CAUSE = 8     # uniforms picking the exit cause
    HOME_WALK = 9      # two normals a loan: the home's walk to exit and over foreclosure


def check_word(name: str, value: int, limit: int = 1 << 64) -> int:
    """``value`` as a Python int in [0, limit); ValueError naming ``name`` otherwise."""
    v = int(value)
    if v != value or not 0 <= v < limit:
        bound = "2**64" if limit == 1 << 64 else str(limit)
        raise ValueError(f"{name}: must be an integer in [0, {bound}), got {value!r}")
    return v


def splitmix64(state: int) -> tuple[int, int]:
    """One SplitMix64 step: (new state, output), both 64-bit ints."""
    state = (state + SPLITMIX_GAMMA) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * SPLITMIX_M1) & MASK64
    z = ((z ^ (z >> 27)) * SPLITMIX_M2) & MASK64
    return state, z ^ (z >> 31)


def stream_key(seed: int) -> tuple[int, int]:
    """The run's Philox key (k0, k1) from its seed: SplitMix64's first output, low then high
    32 bits."""
    _, k = splitmix64(check_word("seed", seed))
    return k & MASK32, k >> 32


def stream_counter(scenario: int, purpose: int, block: int = 0) -> np.ndarray:
    """The counter (4,) uint32 of a stream's first block: (0, purpose + 256 block,
    scenario's low word, its high word)."""
    s = check_word("scenario", scenario)
    p = check_word("purpose", purpose, MAX_PURPOSE)
    b = check_word("block", block, MAX_POOL_BLOCK)
    return np.array([0, p | b << 8, s & MASK32, s >> 32], dtype=np.uint32)


def philox4x32(ctr: np.ndarray, key: tuple[int, int] | np.ndarray) -> np.ndarray:
    """Philox4x32-10 of each row of ``ctr`` (n, 4) uint32 under ``key`` (2 words): (n, 4) uint32.

    A round: (c0, c1, c2, c3) <- (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1,
    lo(M0 c0)), the 32 x 32 -> 64-bit products exact in uint64; the key words grow by the
    Weyl increments between rounds (mod 2**32).
    """
    c = np.asarray(ctr, dtype=np.uint32).astype(np.uint64)
    c0, c1, c2, c3 = (c[:, i] for i in range(4))
    k0, k1 = (int(k) & MASK32 for k in key)
    m0, m1, low = np.uint64(PHILOX_M[0]), np.uint64(PHILOX_M[1]), np.uint64(MASK32)
    for _ in range(PHILOX_ROUNDS):
        p0, p1 = c0 * m0, c2 * m1
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & low,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & low)
        k0, k1 = (k0 + PHILOX_W[0]) & MASK32, (k1 + PHILOX_W[1]) & MASK32
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


def raw_words(key: tuple[int, int] | np.ndarray, counter: np.ndarray, n: int) -> np.ndarray:
    """The first n 64-bit words (uint64) of the stream whose block j encrypts ``counter``
    (4,) with j added to word 0 (mod 2**32): twin of ``_core.fill_raw``."""
    blocks = (n + 1) // 2
    ctr = np.repeat(np.asarray(counter, dtype=np.uint32)[None, :], blocks, axis=0)
    ctr[:, 0] += np.arange(blocks, dtype=np.uint64).astype(np.uint32)  # wraps mod 2**32
    x = philox4x32(ctr, key).astype(np.uint64)
    words = np.stack([x[:, 0] | x[:, 1] << np.uint64(32), x[:, 2] | x[:, 3] << np.uint64(32)],
                     axis=1)
    return words.ravel()[:n]


_NEXT64 = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)
_NEXT32 = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)
_NEXT_DOUBLE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p)


class _BitGen(ctypes.Structure):
    """numpy's ``bitgen_t`` (numpy/random/bitgen.h): a state pointer and four functions."""

    _fields_ = [("state", ctypes.c_void_p), ("next_uint64", _NEXT64),
                ("next_uint32", _NEXT32), ("next_double", _NEXT_DOUBLE), ("next_raw", _NEXT64)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class StreamBitGenerator:
    """One stream as a numpy bit generator: ``numpy.random.Generator(StreamBitGenerator(...))``
    draws with numpy's own samplers from the stream's words.

    It offers what numpy's Generator reads of a BitGenerator, ``capsule`` (a "BitGenerator"
    capsule around a ``bitgen_t`` whose functions are ctypes callbacks) and ``lock``. Words
    are encrypted REFILL_BLOCKS blocks at a time by :func:`raw_words`; next_uint32 hands out
    a word's low half, then its high half, and next_double its top 53 bits x 2**-53, as
    numpy's own bit generators do. A Python callback per word: slow, and only for the
    reference kernels and tests.
    """

    def __init__(self, key: tuple[int, int], counter: np.ndarray) -> None:
        self.key = (int(key[0]), int(key[1]))
        self._next_block = np.asarray(counter, dtype=np.uint32).copy()
        self._words: list[int] = []
        self._pos = 0
        self._half: int | None = None
        self.lock = threading.Lock()
        self._callbacks = (_NEXT64(self._next64), _NEXT32(self._next32),
                           _NEXT_DOUBLE(self._next_double), _NEXT64(self._next64))
        self._bitgen = _BitGen(None, *self._callbacks)  # the callbacks live as long as self
        self.capsule = _capsule_new(ctypes.addressof(self._bitgen), b"BitGenerator", None)

    def _next64(self, _state: int | None = None) -> int:
        if self._pos == len(self._words):
            words = raw_words(self.key, self._next_block, 2 * REFILL_BLOCKS)
            self._next_block[0] += np.uint32(REFILL_BLOCKS)  # mod 2**32, as the kernel's
            self._words, self._pos = words.tolist(), 0
        self._pos += 1
        return self._words[self._pos - 1]

    def _next32(self, _state: int | None = None) -> int:
        if self._half is not None:
            half, self._half = self._half, None
            return half
        w = self._next64()
        self._half = w >> 32
        return w & MASK32

    def _next_double(self, _state: int | None = None) -> float:
        return (self._next64() >> 11) * TWO_POW_M53

    def random_raw(self, n: int) -> np.ndarray:
        """The stream's next n 64-bit words (uint64)."""
        return np.array([self._next64() for _ in range(n)], dtype=np.uint64)


def bit_generator(seed: int, scenario: int, purpose: int, block: int = 0) -> StreamBitGenerator:
    """The stream (seed, scenario, purpose, block) at its start, as a numpy bit generator."""
    return StreamBitGenerator(stream_key(seed), stream_counter(scenario, purpose, block))


def generator(seed: int, scenario: int, purpose: int, block: int = 0) -> np.random.Generator:
    """A Generator on the stream (seed, scenario, purpose, block): its draws equal the
    Cython core's."""
    bits = cast(np.random.BitGenerator, bit_generator(seed, scenario, purpose, block))
    return np.random.Generator(bits)  # numpy reads only .capsule and .lock of it


def fill_normals(seed: int, purpose: int, scenario_start: int, out: np.ndarray) -> None:
    """Standard normals: row r of ``out`` (S, n) from scenario ``scenario_start + r``'s stream.

    Twin of ``equihome._core.fill_normals`` (same numbers, bit for bit).
    """
    for r in range(out.shape[0]):
        generator(seed, scenario_start + r, purpose).standard_normal(out=out[r])


def fill_exponentials(seed: int, purpose: int, scenario_start: int, out: np.ndarray) -> None:
    """Standard exponentials: as :func:`fill_normals`, numpy's ``standard_exponential``; twin
    of ``equihome._core.fill_exponentials``."""
    for r in range(out.shape[0]):
        generator(seed, scenario_start + r, purpose).standard_exponential(out=out[r])


def fill_uniforms(seed: int, purpose: int, scenario_start: int, out: np.ndarray) -> None:
    """Uniforms in [0, 1): as :func:`fill_normals`, numpy's ``Generator.random`` (each word's
    top 53 bits x 2**-53, taken here straight from the words); twin of
    ``equihome._core.fill_uniforms``."""
    key = stream_key(seed)
    for r in range(out.shape[0]):
        words = raw_words(key, stream_counter(scenario_start + r, purpose), out.shape[1])
        out[r] = (words >> np.uint64(11)).astype(np.float64) * TWO_POW_M53
