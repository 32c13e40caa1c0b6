"""Counter-based random streams (Philox4x64-10): the numpy twin of ``equihome/_random.pxi``.

A run's random numbers come from one stream per (seed, scenario index, purpose), with no
generator object kept per scenario. The scheme, ``SCHEME = "philox4x64-10-v1"``:

* **key** (2 x 64 bits) = the first two outputs of SplitMix64 started at the run seed
  (0 <= seed < 2**64): ``k0 = splitmix64(seed + g)``, ``k1 = splitmix64(seed + 2g)`` in
  the usual state-increment form, g = 0x9E3779B97F4A7C15. One key per run.
* **counter** (4 x 64 bits) = ``(draw block, scenario, purpose, pool block)``. The stream
  starts at counter ``(0, scenario, purpose, b)``; numpy's Philox increments word 0
  *before* each block, so block j (4 output words) encrypts ``(j + 1, scenario, purpose,
  b)``. Word 3, b, is the loan pool's block index (``loan_generator``: block b of a
  scenario's pool has its own streams, so a run needing more loans never changes the
  earlier loans' draws); it is 0 for every other purpose. 2**64 draw blocks per stream
  never carry into the scenario word.
* **numbers**: the raw 64-bit words in block order, turned into doubles by numpy's own
  samplers: ``Generator.standard_normal`` (ziggurat), ``Generator.random`` (top 53 bits
  times 2**-53), ``Generator.uniform`` and ``Generator.standard_exponential`` (ziggurat).
  The Cython core runs the same C samplers (numpy.random.c_distributions) on the same
  words, so the two sides agree bit for bit.

The scenario index is the run-wide one (0 .. n-1), never an index within a chunk, so any
scenario's draws can be regenerated alone and no result depends on chunking, threads or
backend. Purposes separate the independent inputs of one scenario (:class:`Purpose`).

Every random number of a run comes from these streams: the Cython kernels draw them
themselves, without the GIL (``_core.fill_normals``, ``fill_uniforms``, ``draw_pools``); the
numpy reference kernels draw the same numbers through this module. A result records
``"rng": SCHEME``.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

SCHEME = "philox4x64-10-v1"
TAPE_BLOCK = 1 << 32  # counter word 3 of a loan tape's streams (pool blocks count 0, 1, ...)
MASK64 = (1 << 64) - 1
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
SPLITMIX_M1 = 0xBF58476D1CE4E5B9
SPLITMIX_M2 = 0x94D049BB133111EB


class Purpose(IntEnum):
    """Counter word 2: which of a scenario's independent inputs a stream feeds.

    Part of the scheme: a change of these numbers renames SCHEME. 0 is unused. The loan
    purposes (4-9) are drawn per pool block (counter word 3); one purpose per draw kind, so
    the rejection redraws of a truncated normal never shift another kind's draws.
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


def check_u64(name: str, value: int) -> int:
    """``value`` as a Python int in [0, 2**64); ValueError naming ``name`` otherwise."""
    v = int(value)
    if v != value or not 0 <= v <= MASK64:
        raise ValueError(f"{name}: must be an integer in [0, 2**64), got {value!r}")
    return v


def splitmix64(state: int) -> tuple[int, int]:
    """One SplitMix64 step: (new state, output), both 64-bit ints."""
    state = (state + SPLITMIX_GAMMA) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * SPLITMIX_M1) & MASK64
    z = ((z ^ (z >> 27)) * SPLITMIX_M2) & MASK64
    return state, z ^ (z >> 31)


def stream_key(seed: int) -> tuple[int, int]:
    """The run's Philox key (k0, k1) from its seed: SplitMix64's first two outputs."""
    state = check_u64("seed", seed)
    state, k0 = splitmix64(state)
    _, k1 = splitmix64(state)
    return k0, k1


def stream_counter(scenario: int, purpose: int, block: int = 0) -> np.ndarray:
    """The counter (4,) uint64 at the start of a stream: (0, scenario, purpose, block)."""
    return np.array([0, check_u64("scenario", scenario), check_u64("purpose", purpose),
                     check_u64("block", block)], dtype=np.uint64)


def bit_generator(seed: int, scenario: int, purpose: int, block: int = 0) -> np.random.Philox:
    """numpy's Philox at the start of the stream (seed, scenario, purpose, block)."""
    key = np.array(stream_key(seed), dtype=np.uint64)
    return np.random.Philox(key=key, counter=stream_counter(scenario, purpose, block))


def generator(seed: int, scenario: int, purpose: int, block: int = 0) -> np.random.Generator:
    """A Generator on the stream (seed, scenario, purpose, block): its draws equal the
    Cython core's."""
    return np.random.Generator(bit_generator(seed, scenario, purpose, block))


def fill_normals(seed: int, purpose: int, scenario_start: int, out: np.ndarray) -> None:
    """Standard normals: row r of ``out`` (S, n) from scenario ``scenario_start + r``'s stream.

    Twin of ``equihome._core.fill_normals`` (same numbers, bit for bit).
    """
    for r in range(out.shape[0]):
        generator(seed, scenario_start + r, purpose).standard_normal(out=out[r])


def fill_uniforms(seed: int, purpose: int, scenario_start: int, out: np.ndarray) -> None:
    """Uniforms in [0, 1): as :func:`fill_normals`; twin of ``equihome._core.fill_uniforms``."""
    for r in range(out.shape[0]):
        generator(seed, scenario_start + r, purpose).random(out=out[r])
