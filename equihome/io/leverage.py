"""The fund's borrowing (DOMAIN.md, "Leverage"): a NAV facility secured on the book and a
subscription line that bridges capital calls, both off by default.

``LeverageConfig`` is the nested ``leverage`` of the fund configuration. It builds on pydantic
alone (equihome.io.config imports it, never the other way round); its cross-field rules come
back to FundConfig as ``(loc, message, value)`` entries, so errors name field, value and rule
like every other config error. Rates are nominal per year, charged monthly as rate / 12 on the
balance at the start of the month (interest) or on the undrawn limit (commitment fees).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from equihome.io.errors import _show

Loc = tuple[str | int, ...]


class _Strict(BaseModel):
    """Unknown keys rejected; numbers strict (no strings, no NaN/Infinity)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True,
                              allow_inf_nan=False)


class NavFacility(_Strict):
    """A revolving loan secured on the fair value of the live loans."""

    enabled: bool = Field(False, description="Whether the fund has a NAV facility.")
    advance_rate: float = Field(
        0.30, ge=0, le=1, description="Most it may have drawn / fair value of the live loans.")
    limit: float | None = Field(
        None, gt=0, description="Optional $ cap on top of the advance rate; null: none.")
    base_rate: float = Field(0.04, ge=0, le=0.3, description="Base rate per year.")
    spread: float = Field(0.0275, ge=0, le=0.3, description="Spread over the base rate per year.")
    commitment_fee: float = Field(
        0.005, ge=0, le=0.05, description="Per year on the undrawn limit (the $ limit when set, "
        "else advance_rate x last month's fair value), in the draw window.")
    draw_policy: Literal["deploy", "liquidity"] = Field(
        "deploy", description="deploy: draw to keep originating once equity is exhausted; "
        "liquidity: only to pay fees and expenses.")
    draw_window: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[start, end] in years: draws only in "
        "months 12 start <= m < 12 end; null: [0, fund_term - 1]. Repaid in full by fund end.")
    ltv_covenant: float = Field(
        0.40, ge=0, le=1, description="Drawn / fair value above this: every dollar of cash "
        "after fees repays the facility until back under (cash sweep), and no new draws.")

    def window(self, fund_term: int) -> tuple[int, int]:
        """Months [start, end) in which draws are allowed."""
        a, b = self.draw_window if self.draw_window is not None else (0.0, fund_term - 1.0)
        return round(12 * a), round(12 * b)


class SubscriptionLine(_Strict):
    """A credit line backed by the uncalled commitments, bridging capital calls."""

    enabled: bool = Field(False, description="Whether the fund has a subscription line.")
    limit_fraction: float = Field(
        0.15, ge=0, le=1, description="Most it may have drawn, a fraction of the uncalled "
        "commitments.")
    rate: float = Field(0.06, ge=0, le=0.3, description="Interest per year on the drawn balance.")
    commitment_fee: float = Field(0.0035, ge=0, le=0.05,
                                  description="Per year on the undrawn limit.")
    max_outstanding_months: int = Field(
        6, ge=1, le=36, description="Each draw is repaid by a capital call at most this many "
        "months later.")


class LeverageConfig(_Strict):
    """The fund's facilities: ``nav_facility`` and ``subscription_line``."""

    nav_facility: NavFacility = Field(default_factory=NavFacility,
                                      description="A revolving loan secured on the book.")
    subscription_line: SubscriptionLine = Field(default_factory=SubscriptionLine,
                                                description="A line bridging capital calls.")

    @property
    def active(self) -> bool:
        """True when either facility is enabled."""
        return self.nav_facility.enabled or self.subscription_line.enabled

    def issues(self, fund_term: int) -> list[tuple[Loc, str, Any]]:
        """Cross-field rule violations, each (loc below ``leverage``, message, value)."""
        out: list[tuple[Loc, str, Any]] = []
        nav = self.nav_facility
        if nav.advance_rate > nav.ltv_covenant:
            out.append((("nav_facility", "advance_rate"), "must be at most ltv_covenant "
                        f"({_show(nav.ltv_covenant)}): a full draw would breach the covenant, got "
                        f"{_show(nav.advance_rate)}", nav.advance_rate))
        win = nav.draw_window
        if win is not None and not 0 <= win[0] <= win[1] <= fund_term:
            out.append((("nav_facility", "draw_window"), "must be [start, end] years with "
                        f"0 <= start <= end <= fund_term ({fund_term}), got [{_show(win[0])}, "
                        f"{_show(win[1])}]", win))
        return out
