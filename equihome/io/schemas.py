"""JSON Schema of the simulation result (the ``result`` message's payload).

Written here, beside the code that builds the result (summary.summarise), and held against
real results by the tests; the config schema comes from the pydantic models.
"""

from __future__ import annotations

from equihome.model.leverage import LEVERAGE_METRICS, LEVERAGE_YEARLY
from equihome.model.metrics import CONTRACT_METRICS, HISTOGRAMS, METRICS, STATS

_NUM = {"type": ["number", "null"]}
_STAT = {"type": "object", "required": list(STATS), "additionalProperties": False,
         "properties": {k: ({"type": "integer"} if k == "count" else _NUM) for k in STATS}}
_FAN = {"type": "object", "required": ["p5", "p50", "p95"],
        "properties": {q: {"type": "array", "items": _NUM} for q in ("p5", "p50", "p95")}}
_VIOLATION = {
    "type": "object", "required": ["rule", "severity", "message", "details"],
    "additionalProperties": False,
    "properties": {
        "rule": {"type": "string"}, "severity": {"enum": ["info", "warning", "error"]},
        "message": {"type": "string"},
        "details": {"type": "object", "required": ["actual"],
                    "anyOf": [{"required": ["max_allowed"]}, {"required": ["min_allowed"]}]},
    },
}
_TRANCHE = {"type": "object", "required": ["name", "return", "multiple"],
            "properties": {"name": {"type": "string"}, "type": {"type": "string"},
                           "return": _NUM, "multiple": _NUM}}

_COUNT = {"type": "integer", "minimum": 0}
_HISTOGRAM = {"type": "object", "required": ["edges", "counts", "below", "above", "missing"],
              "additionalProperties": False,
              "properties": {"edges": {"type": "array", "items": {"type": "number"}},
                             "counts": {"type": "array", "items": _COUNT},
                             "below": _COUNT, "above": _COUNT, "missing": _COUNT}}

RESULT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Equihome simulation result",
    "type": "object",
    "required": ["metrics", "loans", "fund_size", "num_simulations", "seed", "rng", "statistics",
                 "risk", "fans", "histograms", "exit_mix", "tranches", "guardrails", "irr_diagnostics",
                 "sample_paths", "config"],
    "additionalProperties": False,
    "properties": {
        "metrics": {"type": "object", "required": ["irr", "equity_multiple", "roi"],
                    "additionalProperties": _NUM,
                    "description": "irr, equity_multiple, roi: medians of LP net IRR, LP TVPI, ROI"},
        "loans": {"type": "integer", "description": "median number of loans made per scenario"},
        "fund_size": {"type": "number"},
        "num_simulations": {"type": "integer", "minimum": 1},
        "seed": {"type": "integer"},
        "rng": {"type": "string", "examples": ["philox4x32-10-v1"],
                "description": "the random-stream scheme the scenarios were drawn with "
                               "(equihome.model.streams.SCHEME): the same config, seed and rng "
                               "give the same numbers; results of another scheme differ in the "
                               "sampled numbers, not in their distribution"},
        "statistics": {"type": "object", "required": list(METRICS),
                       "additionalProperties": False,
                       "properties": {m: _STAT for m in METRICS}},
        "risk": {"type": "object",
                 "required": ["var_95", "cvar_95", "var_99", "cvar_99", "hurdle_clear_probability",
                              "irr_p5"],
                 "additionalProperties": _NUM},
        "fans": {"type": "object", "required": ["years", "nav", "j_curve", "lp_tvpi"],
                 "properties": {"years": {"type": "array", "items": {"type": "integer"}}},
                 "additionalProperties": _FAN},
        "histograms": {
            "type": "object", "required": list(HISTOGRAMS), "additionalProperties": _HISTOGRAM,
            "description": "per metric: HIST_BINS equal bins between its 0.5th and 99.5th "
                           "percentile (edges in the metric's units), the tails counted in "
                           "below/above, non-finite values in missing"},
        "exit_mix": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["share", "mean_per_scenario"]}},
        "tranches": {"type": "array", "items": _TRANCHE, "minItems": 1},
        "guardrails": {"type": "array", "items": _VIOLATION},
        "irr_diagnostics": {"type": "object", "required": ["multiple_roots", "no_irr"]},
        "sample_paths": {"type": "object"},
        "config": {"type": "object"},
        "contract": {
            "type": "object", "required": ["type", "summary", "statistics"],
            "additionalProperties": False,
            "description": "present when the config names a contract: its type, a summary and "
                           "the effective rate and cap-binding share over scenarios",
            "properties": {"type": {"type": "string"}, "summary": {"type": "string"},
                           "statistics": {"type": "object",
                                          "required": list(CONTRACT_METRICS),
                                          "additionalProperties": False,
                                          "properties": {m: _STAT for m in CONTRACT_METRICS}}}},
        "leverage": {
            "type": "object",
            "required": ["nav_facility", "subscription_line", "statistics", "fans"],
            "additionalProperties": False,
            "description": "present when a facility is enabled: which ones, their metrics over "
                           "scenarios (LP IRR as if unlevered and the uplift, peaks, interest, "
                           "fees, covenant months, minimum interest coverage, lender loss) and "
                           "drawn-balance fans by year ($)",
            "properties": {
                "nav_facility": {"type": "boolean"}, "subscription_line": {"type": "boolean"},
                "statistics": {"type": "object", "required": list(LEVERAGE_METRICS),
                               "additionalProperties": False,
                               "properties": {m: _STAT for m in LEVERAGE_METRICS}},
                "fans": {"type": "object", "required": list(LEVERAGE_YEARLY),
                         "additionalProperties": False,
                         "properties": {y: _FAN for y in LEVERAGE_YEARLY}}}},
    },
}
