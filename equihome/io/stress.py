"""Market stress as data: a price shock overlay and exit-hazard multipliers (ANALYSES.md).

``MarketStress`` is the part a single run carries (``FundConfig.market_stress``; None, the
default, changes nothing); :class:`StressScenario` adds a name and ordinary config overrides,
and :data:`LIBRARY` holds the built-in scenarios, each number with its source below.

The overlay S(m) multiplies every zone's price index (the stochastic paths stay
underneath): 1 before ``start_month``; ``1 + immediate * sev`` at it, falling linearly to
``1 + decline * sev`` (peak to trough, the immediate part included) over
``decline_months``; then back to 1 linearly over ``recovery_months`` (None: it stays at the
trough). ``sev`` is the zone's severity. The hazard multipliers scale the annual sale,
refinance and default hazards in months ``start_month <= m < start_month + months``.

Sources of the library's numbers:

* ``haircut_10``: an immediate 10 % value cut that stays (no recovery): Morningstar DBRS's
  moderate reverse-mortgage surveillance case (MARKET.md).
* ``mvd_45``: a 45 % market value decline, S&P's AAA-level total decline for reverse
  mortgages (its BBB level is 38 %; MARKET.md); ``mvd_31`` and ``mvd_20`` are milder steps
  below the BBB level. Each declines over 36 months (24 for ``mvd_20``) from month 12, red
  zones 1.3x the headline and green 0.8x, and stays down: an agency MVD is a total decline,
  sized without a recovery. (With a recovery, loans made near the trough gain it back, and
  a shallow decline can raise the fund's IRR: give ``recovery_months`` to see that.)
* ``*_frozen``: the same with a frozen market during the decline: defaults x2, sales x0.5,
  refinancing x0.3.
* ``rates_up``: refinancing x0.3 and defaults x1.5 for 36 months, no price shock.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ZONE_NAMES = ("green", "orange", "red")
MAX_MONTHS = 12 * 30  # the longest fund


class _Strict(BaseModel):
    """Unknown keys rejected; numbers strict (no strings, no NaN/Infinity)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ZoneSeverity(_Strict):
    """How hard each zone is hit, a multiple of the headline shock."""

    green: float = Field(1.0, ge=0, le=3, description="Green zone severity multiple.")
    orange: float = Field(1.0, ge=0, le=3, description="Orange zone severity multiple.")
    red: float = Field(1.0, ge=0, le=3, description="Red zone severity multiple.")


class PriceShock(_Strict):
    """A deterministic overlay on the zone price indices (see the module docstring)."""

    start_month: int = Field(12, ge=0, le=MAX_MONTHS, description="First shocked month.")
    immediate: float = Field(0.0, ge=-0.95, le=1, description="Jump at start_month, a fraction.")
    decline: float = Field(0.0, ge=-0.95, le=1,
                           description="Peak-to-trough change, the immediate part included.")
    decline_months: int = Field(0, ge=0, le=MAX_MONTHS, description="Months from jump to trough.")
    recovery_months: int | None = Field(
        None, ge=1, le=MAX_MONTHS, description="Months from trough back to 1; null: no recovery.")
    zone_severity: ZoneSeverity = Field(default_factory=ZoneSeverity,
                                        description="Multiple of the shock per zone.")

    @model_validator(mode="after")
    def _levels_positive(self) -> PriceShock:
        worst = max(self.zone_severity.model_dump().values())
        for name in ("immediate", "decline"):
            level = 1.0 + getattr(self, name) * worst
            if level <= 0.0:
                raise ValueError(f"{name} x the largest zone severity ({worst:g}) must stay above "
                                 f"-1 (prices stay positive); 1 + {name} x severity = {level:g}")
        return self


class HazardMultipliers(_Strict):
    """Exit hazards scaled in a window of months (1 = unchanged)."""

    start_month: int = Field(12, ge=0, le=MAX_MONTHS, description="First month scaled.")
    months: int = Field(36, ge=0, le=MAX_MONTHS, description="Length of the window, months.")
    default: float = Field(1.0, ge=0, le=20, description="Default hazard multiple.")
    sale: float = Field(1.0, ge=0, le=20, description="Sale hazard multiple.")
    refinance: float = Field(1.0, ge=0, le=20, description="Refinance hazard multiple.")


class MarketStress(_Strict):
    """The stress a single run applies inside its kernels (``FundConfig.market_stress``)."""

    price_shock: PriceShock | None = Field(None, description="Overlay on the price indices.")
    hazard_multipliers: HazardMultipliers | None = Field(None, description="Exit hazard scaling.")


class StressScenario(MarketStress):
    """A named stress: a MarketStress plus ordinary config overrides (deep-merged)."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$",
                      description="Scenario name (letters, digits, _ . -).")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Config overrides.")

    def market(self) -> dict[str, Any] | None:
        """The ``market_stress`` config value of this scenario (None when it has none)."""
        data = MarketStress.model_validate(self.model_dump(include={"price_shock",
                                                                    "hazard_multipliers"}))
        if data.price_shock is None and data.hazard_multipliers is None:
            return None
        return data.model_dump(mode="json")


SEVERITY = {"green": 0.8, "orange": 1.0, "red": 1.3}
FROZEN = {"default": 2.0, "sale": 0.5, "refinance": 0.3}


def _decline(depth: float, months: int) -> dict[str, Any]:
    return {"start_month": 12, "immediate": 0.0, "decline": -depth, "decline_months": months,
            "recovery_months": None, "zone_severity": SEVERITY}


_SHOCKS: dict[str, dict[str, Any]] = {
    "haircut_10": {"start_month": 12, "immediate": -0.10, "decline": -0.10, "decline_months": 0,
                   "recovery_months": None},
    "mvd_20": _decline(0.20, 24),
    "mvd_31": _decline(0.31, 36),
    "mvd_45": _decline(0.45, 36),
}


def _library() -> dict[str, StressScenario]:
    out: dict[str, StressScenario] = {}
    for name, shock in _SHOCKS.items():
        out[name] = StressScenario(name=name, price_shock=PriceShock(**shock))
        window = max(shock["decline_months"], 12)  # a haircut freezes the market for a year
        out[f"{name}_frozen"] = StressScenario(
            name=f"{name}_frozen", price_shock=PriceShock(**shock),
            hazard_multipliers=HazardMultipliers(start_month=shock["start_month"], months=window,
                                                 **FROZEN))
    out["rates_up"] = StressScenario(name="rates_up", hazard_multipliers=HazardMultipliers(
        start_month=12, months=36, default=1.5, refinance=0.3))
    return out


LIBRARY: dict[str, StressScenario] = _library()
