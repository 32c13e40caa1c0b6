"""Per-scenario metric arrays as bytes, JSON and CSV: what the server stores and sends.

The compact binary (``application/octet-stream`` on ``GET /api/simulations/{id}/scenarios``,
and the form the server keeps in SQLite) is, byte by byte:

====================  =====================================================================
offset 0, 4 bytes     magic ``b"EQSC"``
offset 4, 4 bytes     H: length of the header, unsigned 32-bit little-endian
offset 8, H bytes     header: UTF-8 JSON ``{"version": 1, "num_simulations": n, "seed": s,
                      "dtype": "<f8", "compression": "zlib", "metrics": [name, ...]}``
offset 8 + H          a zlib stream (RFC 1950) that inflates to ``len(metrics) * n * 8``
                      bytes: each metric's n values in header order (one column after
                      another), little-endian IEEE-754 float64, NaN where a metric does not
                      exist in a scenario
====================  =====================================================================

No pickle anywhere: the header is JSON and the values are plain float64, so any language
reads it (numpy: ``np.frombuffer(zlib.decompress(rest), "<f8").reshape(len(metrics), n)``).
JSON and CSV carry the same float64 values exactly (``repr`` precision); a NaN or infinite
value is ``null`` in JSON and an empty cell in CSV.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["MAGIC", "VERSION", "ScenarioArrays", "UnknownMetric", "decode", "encode"]

MAGIC = b"EQSC"
VERSION = 1
DTYPE = "<f8"
LEVEL = 6  # zlib level: IRRs barely compress, counts and NaN runs do


class UnknownMetric(ValueError):
    """A metric name that the arrays do not hold (the message lists the valid ones)."""


@dataclass
class ScenarioArrays:
    """A run's per-scenario metric arrays (float64, ``num_simulations`` long each) and its seed."""

    num_simulations: int
    seed: int | None
    metrics: dict[str, np.ndarray]

    @classmethod
    def of(cls, scenarios: Mapping[str, np.ndarray], seed: int | None) -> ScenarioArrays:
        """Float64 copies of ``scenarios``; ValueError unless every array is 1-D of one length."""
        metrics = {str(k): np.ascontiguousarray(v, dtype=DTYPE) for k, v in scenarios.items()}
        lengths = {v.shape for v in metrics.values()}
        if len(lengths) > 1 or any(len(shape) != 1 for shape in lengths):
            raise ValueError(f"scenarios: every metric must be a 1-D array of one length, got "
                             f"shapes {sorted(lengths)}")
        n = next(iter(lengths))[0] if lengths else 0
        return cls(n, seed, metrics)

    def select(self, names: Iterable[str] | None) -> ScenarioArrays:
        """Only the metrics ``names`` (in that order, repeats dropped); None keeps all.

        UnknownMetric naming the first unknown name and listing the valid ones.
        """
        if names is None:
            return self
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            if name not in self.metrics:
                raise UnknownMetric(f"metrics: unknown metric {name!r}; this run has "
                                    f"{', '.join(self.metrics)}")
        return ScenarioArrays(self.num_simulations, self.seed,
                              {name: self.metrics[name] for name in wanted})

    def to_json(self) -> str:
        """``{"num_simulations", "seed", "metrics": {name: [float or null, ...]}}`` as compact,
        finite JSON text; floats are written with ``repr`` precision (exact round trip)."""
        columns = ",".join(f"{json.dumps(name)}:{_json_column(v)}"
                           for name, v in self.metrics.items())
        return (f'{{"num_simulations":{self.num_simulations},"seed":{json.dumps(self.seed)},'
                f'"metrics":{{{columns}}}}}')

    def to_csv(self) -> str:
        """CSV (RFC 4180, CRLF): a header ``scenario,<metric>,...`` and one row per scenario
        (0-based index); floats with ``repr`` precision, an empty cell for NaN or infinity."""
        cells = [[repr(x) if math.isfinite(x) else "" for x in v.tolist()]
                 for v in self.metrics.values()]
        lines = [",".join(["scenario", *self.metrics])]
        lines += [",".join((str(i), *row)) for i, row in
                  enumerate(zip(*cells, strict=True) if cells else ((),) * self.num_simulations)]
        return "\r\n".join(lines) + "\r\n"

    def to_bytes(self) -> bytes:
        """The compact binary (see the module's docstring)."""
        return encode(self)


def _json_column(v: np.ndarray) -> str:
    """A float64 array as a JSON list, non-finite values as null (the list holds numbers only,
    so the three non-finite tokens Python writes can be replaced as text)."""
    text = json.dumps(v.tolist(), separators=(",", ":"))
    return text.replace("-Infinity", "null").replace("Infinity", "null").replace("NaN", "null")


def encode(arrays: ScenarioArrays) -> bytes:
    """``arrays`` as the compact binary (magic, header length, JSON header, zlib columns)."""
    header = json.dumps({"version": VERSION, "num_simulations": arrays.num_simulations,
                         "seed": arrays.seed, "dtype": DTYPE, "compression": "zlib",
                         "metrics": list(arrays.metrics)}, separators=(",", ":")).encode()
    body = zlib.compressobj(LEVEL)
    parts = [MAGIC, struct.pack("<I", len(header)), header]
    parts += [body.compress(np.ascontiguousarray(v, dtype=DTYPE).data) for v in arrays.metrics.values()]
    parts.append(body.flush())
    return b"".join(parts)


def decode(blob: bytes) -> ScenarioArrays:
    """The arrays of a compact binary; ValueError saying what is wrong with a malformed one."""
    data = memoryview(blob)
    if len(data) < 8 or bytes(data[:4]) != MAGIC:
        raise ValueError("scenario arrays: not the compact format (no EQSC magic)")
    (size,) = struct.unpack("<I", data[4:8])
    try:
        header = json.loads(bytes(data[8:8 + size]))
    except ValueError:
        raise ValueError("scenario arrays: the header is not JSON") from None
    if not isinstance(header, dict) or header.get("version") != VERSION:
        version = header.get("version") if isinstance(header, dict) else None
        raise ValueError(f"scenario arrays: version {version!r} is not supported (this code "
                         f"reads version {VERSION})")
    if header.get("dtype") != DTYPE or header.get("compression") != "zlib":
        raise ValueError(f"scenario arrays: dtype {header.get('dtype')!r} / compression "
                         f"{header.get('compression')!r}; expected {DTYPE!r} / 'zlib'")
    n, names = header["num_simulations"], header["metrics"]
    expected = 8 * n * len(names)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data[8 + size:], expected + 1)
    except zlib.error as exc:
        raise ValueError(f"scenario arrays: corrupt data ({exc})") from None
    if len(raw) != expected or not inflater.eof:
        held = "more" if len(raw) > expected else f"{len(raw):,} bytes"
        raise ValueError(f"scenario arrays: the header promises {expected:,} bytes of values "
                         f"({len(names)} metrics x {n:,} scenarios x 8); the data holds {held}")
    table = np.frombuffer(raw, dtype=DTYPE).reshape(len(names), n).copy()  # writable
    return ScenarioArrays(n, header["seed"], {name: table[i] for i, name in enumerate(names)})
