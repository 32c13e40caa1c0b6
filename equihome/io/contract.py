"""The home-equity contract the fund's loans follow (DOMAIN.md, "Contracts"), and the presets
modelled on the market's public terms (shared/design/MARKET.md).

``ContractConfig`` is the nested ``contract`` of the fund configuration. It builds on pydantic
alone (equihome.io.config imports it, never the other way round); its cross-field rules come
back to FundConfig as ``(loc, message, value)`` entries, so errors name field, value and rule
like every other config error. Claims are in $, I the advance, V0 the home value at
origination, V the value at exit; rates per year.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Multiple = Annotated[float, Field(ge=1, le=5)]


class ContractConfig(BaseModel):
    """The contract of every synthetic loan: claim formula, its caps and floors, windows, lien."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              allow_inf_nan=False)

    type: Literal["interest_plus_share", "appreciation_share", "value_share"] = Field(
        "interest_plus_share", description="interest_plus_share: I + I rate tau + share (V - V0)+ "
        "(today's; the loan fields set it); appreciation_share: I + s (V - (1 - "
        "risk_adjustment) V0), both ways; value_share: s V; s = multiple x I / V0.")
    multiple: Multiple = Field(2.0, description="s = multiple x I / V0 (share types; 1.6-4 "
                               "typical).")
    multiple_by_exit_year: list[Multiple] = Field(
        default_factory=list, max_length=30,
        description="Optional multiples by exit year: entry y for loan ages 12y to 12y + 11 "
        "months (the last entry for later years); replaces multiple.")
    down_multiple: float | None = Field(
        None, ge=0, le=5, description="Multiple on the part of V below the start value "
        "(asymmetric sharing); null: the up multiple.")
    risk_adjustment: float = Field(
        0.0, ge=0, le=0.3, description="appreciation_share: gain measured from (1 - this) V0.")
    cap_rate: float | None = Field(
        None, ge=0, le=0.3, description="Claim at most I (1 + cap_rate / 12)^months since "
        "origination (compounded monthly); null: none.")
    floor: float = Field(0.0, ge=0, le=1, description="Claim at least floor x I (0: none).")
    buyout_after_years: float = Field(
        0.0, ge=0, le=30, description="No buyout (refinance) exit before this loan age.")
    loss_share_after_years: float = Field(
        0.0, ge=0, le=30, description="For exits before this loan age the claim is at least I "
        "(no loss sharing).")
    lien_position: Literal[1, 2, 3] = Field(1, description="1 first lien; 2 or 3 behind a "
                                            "senior mortgage.")
    junior_lien_share: float = Field(
        1.0, ge=0, le=1, description="With lien_position 2 or 3: share of the loans that are "
        "junior (evenly in pool order); the rest are first liens.")
    senior_balance_ratio: float = Field(
        0.0, ge=0, lt=1, description="Senior mortgage balance / V0 at origination (junior liens).")
    senior_rate: float = Field(0.06, ge=0, le=0.3, description="Senior mortgage rate per year.")
    senior_term_years: int = Field(
        30, ge=1, le=40, description="Senior mortgage amortisation term (monthly payments).")
    start_value_haircut: float = Field(
        0.0, ge=0, le=0.3, description="Valuation haircut for the fund's own risk view "
        "(combined_ltv), not for the claim.")

    def issues(self) -> list[tuple[tuple[str | int, ...], str, Any]]:
        """Cross-field rule violations, each (loc below ``contract``, message, value)."""
        out: list[tuple[tuple[str | int, ...], str, Any]] = []
        shares = self.type != "interest_plus_share"
        if self.risk_adjustment > 0 and self.type != "appreciation_share":
            out.append((("risk_adjustment",), "applies only to type appreciation_share "
                        f"(type is {self.type}), got {self.risk_adjustment!r}",
                        self.risk_adjustment))
        if not shares and self.multiple_by_exit_year:
            out.append((("multiple_by_exit_year",), "applies only to appreciation_share and "
                        f"value_share, got {self.multiple_by_exit_year!r}",
                        self.multiple_by_exit_year))
        if not shares and self.down_multiple is not None:
            out.append((("down_multiple",), "applies only to appreciation_share and "
                        f"value_share, got {self.down_multiple!r}", self.down_multiple))
        junior = self.lien_position > 1
        if junior != (self.senior_balance_ratio > 0):
            rule = ("must be greater than 0 for a junior lien (lien_position "
                    f"{self.lien_position})" if junior else
                    "must be 0 for a first lien (lien_position 1)")
            out.append((("senior_balance_ratio",), f"{rule}, got {self.senior_balance_ratio!r}",
                        self.senior_balance_ratio))
        return out

    def months(self, years: float) -> int:
        """Whole months of a window given in years."""
        return round(12 * years)


#: Presets for the two market forms: overrides on top of preset ``100m``, then their notes.
CONTRACT_PRESETS: dict[str, dict[str, Any]] = {
    "appreciation_share_30y": {
        "avg_loan_size": 85_000, "loan_size_std_dev": 30_000, "min_loan_size": 25_000,
        "max_loan_size": 250_000, "avg_loan_ltv": 0.10, "ltv_std_dev": 0.03, "min_ltv": 0.05,
        "max_ltv": 0.20, "loan_term": 30, "origination_fee_rate": 0.039,
        "exit_simulator": {"base_exit_rate": 0.20},
        "contract": {"type": "appreciation_share", "multiple": 3.3, "risk_adjustment": 0.17,
                     "cap_rate": 0.18, "buyout_after_years": 3.0, "loss_share_after_years": 5.0,
                     "lien_position": 2, "junior_lien_share": 0.8,
                     "senior_balance_ratio": 0.35, "senior_rate": 0.065,
                     "senior_term_years": 30, "start_value_haircut": 0.05},
        "guardrails": {"max_ltv": 0.20},
    },
    "value_share_10y": {
        "avg_loan_size": 100_000, "loan_size_std_dev": 40_000, "min_loan_size": 25_000,
        "max_loan_size": 500_000, "avg_loan_ltv": 0.177, "ltv_std_dev": 0.06, "min_ltv": 0.05,
        "max_ltv": 0.35, "loan_term": 10, "origination_fee_rate": 0.049,
        "exit_simulator": {"base_exit_rate": 0.20},
        "contract": {"type": "value_share", "multiple": 1.6, "cap_rate": 0.199,
                     "lien_position": 2, "junior_lien_share": 0.873,
                     "senior_balance_ratio": 0.384, "senior_rate": 0.065,
                     "senior_term_years": 30, "start_value_haircut": 0.05},
        "guardrails": {"max_ltv": 0.35},
    },
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "100m": "The earlier engine's canonical $100M fund: advance + 5 % simple interest + a share "
            "of the gain equal to the LTV, 10-year loans, first liens.",
    "appreciation_share_30y": (
        "Preset 100m's fund holding Point-style appreciation-share contracts. multiple 3.3, "
        "risk adjustment 17 %, cap 18 % a year compounded monthly, average Point % 33.4 so "
        "advance / value 10 % and advances near $85k on an $830k home: Morningstar DBRS on "
        "Point 2024-1 (pool multiple 3.34x, RA 17 %, cap 18 %, average value $830k). 30-year "
        "term and fee 3.9 %: Point (help.point.com, point.com). 80 % second liens: 74-86 % of "
        "rated pools (Unlock 2024-2: 74.2 % second, 13.1 % third). Senior balance 35 % of "
        "value: Point 2025-1 (LTV 34.9 %). Buyout from year 3 and no loss sharing before year "
        "5: Unison's terms. 20 % of homeowners repay a year: Point 2021-1 pricing. Valuation "
        "haircut 5 %: DBRS for appraisals up to 18 months old. Senior rate 6.5 %: an "
        "assumption."),
    "value_share_10y": (
        "Preset 100m's fund holding Unlock-style value-share contracts. multiple 1.6, no risk "
        "adjustment, cap 19.9 % a year (compounded monthly here), 10-year term, fee 4.9 %, "
        "advances of 5-35 % of value: unlock.com/faq. Advance / value 17.7 %, senior balance "
        "38.4 % of value (combined 56.1 %) and 87.3 % junior liens (74.2 % second, 13.1 % "
        "third): Unlock HEA 2024-2 (Morningstar DBRS, National Mortgage News). 20 % of "
        "homeowners settle a year: Manifest's average settlement of 4.5 years. Valuation "
        "haircut 5 %: DBRS. Average advance $100k and senior rate 6.5 %: assumptions."),
}
