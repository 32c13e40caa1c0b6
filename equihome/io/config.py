"""Typed, nested, validated fund configuration (parameters as in shared/design/DOMAIN.md).

Entry points: validate_config, load_config (preset / dict / JSON file + overrides), PRESETS,
config_json_schema; errors are ConfigError with one plain-words entry per offending field."""

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from equihome.io.contract import CONTRACT_PRESETS, ContractConfig
from equihome.io.errors import _OBJECT, _message, _path, _show
from equihome.io.leverage import LeverageConfig
from equihome.io.portfolio import PortfolioConfig
from equihome.io.stress import MarketStress

Loc = tuple[str | int, ...]
Entry = dict[str, Any]  # {"loc": [...], "msg": "...", "value": ...}
ZONES: tuple[str, str, str] = ("green", "orange", "red")
SUM_TOLERANCE, PSD_TOLERANCE = 1e-9, 1e-10  # zone allocations sum; smallest eigenvalue
MAX_SEED = 2**63 - 1
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


MONTHS_PER_YEAR = 12  # the engine runs on one monthly axis (DOMAIN.md, "Time")

class ConfigError(ValueError):
    """Invalid configuration; ``errors`` has one ``{"loc", "msg", "value"}`` per bad field."""

    def __init__(self, errors: list[Entry]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e["msg"]) for e in errors))


class _Issues(ValueError):
    """Rule violations found by a validator, as ``(relative loc, message, offending value)``."""

    def __init__(self, issues: list[tuple[Loc, str, Any]]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{_path(loc) or 'value'}: {msg}" for loc, msg, _ in issues))


class _Base(BaseModel):
    """Shared rules: unknown keys rejected; strict numbers (ints accepted for floats, strings and
    bools rejected); no NaN/Infinity; validated, and rolled back on error, on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False,
                              strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _merge_partial(cls, data: Any) -> Any:
        """Merge a partial nested dict (e.g. one zone) over the field's default sub-model."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, info in cls.model_fields.items():
            value, kind = merged.get(name), info.annotation
            if isinstance(value, np.generic):  # numpy scalars count as plain Python numbers
                value = merged[name] = value.item()
            if isinstance(value, BaseModel) and type(value) is not kind:
                value = merged[name] = value.model_dump()  # e.g. ZoneValues for a ranged field
            if isinstance(value, dict) and not info.is_required():
                default = info.get_default(call_default_factory=True)
                if isinstance(default, BaseModel):
                    merged[name] = {**default.model_dump(), **value}
        return merged

    def __setattr__(self, name: str, value: Any) -> None:
        """Assigned dicts merge over a sub-model's current value; errors leave self unchanged."""
        current = getattr(self, name, None) if name in type(self).model_fields else None
        value = value.item() if isinstance(value, np.generic) else value
        if isinstance(current, BaseModel):
            if isinstance(value, BaseModel):
                value = value.model_dump()
            if isinstance(value, dict):
                value = {**current.model_dump(), **value}
        saved = (self.__dict__.copy(), set(self.__pydantic_fields_set__))
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:  # pydantic leaves a half-applied assignment: undo it
            object.__setattr__(self, "__dict__", saved[0])
            object.__setattr__(self, "__pydantic_fields_set__", saved[1])
            raise ConfigError(_translate(exc, type(self), type(self).__name__)) from None


Unit = Annotated[float, Field(ge=0, le=1)]
FeeRate = Annotated[float, Field(ge=0, le=0.1)]
Multiplier = Annotated[float, Field(ge=0, le=100)]
Years = Annotated[float, Field(ge=0, le=30)]
Dollars = Annotated[float, Field(ge=0)]
Correlation = Annotated[float, Field(ge=-1, le=1)]


class ZoneValues(_Base):
    """One value per traffic-light zone (green, orange, red)."""

    green: float = Field(description="Value for green (lowest-risk) suburbs.")
    orange: float = Field(description="Value for orange (medium-risk) suburbs.")
    red: float = Field(description="Value for red (highest-risk) suburbs.")



class UnitZoneValues(ZoneValues):
    """Zone values that are fractions in [0, 1]."""

    green: Unit = Field(description="Green zone value, a fraction in [0, 1].")
    orange: Unit = Field(description="Orange zone value, a fraction in [0, 1].")
    red: Unit = Field(description="Red zone value, a fraction in [0, 1].")


class AllocationZoneValues(UnitZoneValues):
    """Target capital share per zone; the three shares must sum to 1."""

    @model_validator(mode="after")
    def _sums_to_one(self) -> "AllocationZoneValues":
        total = self.green + self.orange + self.red
        if abs(total - 1.0) > SUM_TOLERANCE:
            msg = (f"must sum to 1 (tolerance 1e-9), got green {_show(self.green)} + orange "
                   f"{_show(self.orange)} + red {_show(self.red)} = {total:.12g}")
            raise _Issues([((), msg, self.model_dump())])
        return self


class AppreciationZoneValues(ZoneValues):
    """Annual price drift per zone (fraction per year), each in [-0.2, 0.3]."""

    green: float = Field(ge=-0.2, le=0.3, description="Green zone annual price drift.")
    orange: float = Field(ge=-0.2, le=0.3, description="Orange zone annual price drift.")
    red: float = Field(ge=-0.2, le=0.3, description="Red zone annual price drift.")


class LoanSizeZoneValues(ZoneValues):
    """A positive dollar amount per zone."""

    green: float = Field(gt=0, description="Green zone amount ($).")
    orange: float = Field(gt=0, description="Orange zone amount ($).")
    red: float = Field(gt=0, description="Red zone amount ($).")


def _zones(cls: type[ZoneValues], green: float, orange: float, red: float, desc: str) -> Any:
    """A zone-keyed field with its own default (partial dicts merge over it)."""
    return Field(default_factory=lambda: cls(green=green, orange=orange, red=red), description=desc)


@lru_cache(maxsize=256)
def smallest_eigenvalue(green_orange: float, green_red: float, orange_red: float) -> float:
    """Smallest eigenvalue of the zone correlation matrix, computed once per matrix: every
    validation of a config asks, and each LAPACK call wakes OpenBLAS's threads, which then
    spin on the other cores for a while (1.4 % of a run's CPU samples, on the core a second
    engine thread needs)."""
    return float(np.linalg.eigvalsh(zone_correlation(green_orange, green_red, orange_red)).min())


def zone_correlation(go: float, gr: float, orr: float) -> np.ndarray:
    """The 3x3 correlation matrix in zone order green, orange, red from its pairs."""
    return np.array([[1.0, go, gr], [go, 1.0, orr], [gr, orr, 1.0]])


class CorrelationMatrix(_Base):
    """Pairwise correlations of the zone shocks; the 3x3 matrix must be positive semi-definite."""

    green_orange: Correlation = Field(0.7, description="Correlation of green and orange shocks.")
    green_red: Correlation = Field(0.5, description="Correlation of green and red shocks.")
    orange_red: Correlation = Field(0.8, description="Correlation of orange and red shocks.")

    def matrix(self) -> np.ndarray:
        """The 3x3 correlation matrix in zone order green, orange, red."""
        return zone_correlation(self.green_orange, self.green_red, self.orange_red)

    @model_validator(mode="after")
    def _positive_semi_definite(self) -> "CorrelationMatrix":
        smallest = smallest_eigenvalue(self.green_orange, self.green_red, self.orange_red)
        if smallest < -PSD_TOLERANCE:
            msg = (f"must be positive semi-definite (smallest eigenvalue >= -1e-10), got "
                   f"green_orange={_show(self.green_orange)}, green_red={_show(self.green_red)}, "
                   f"orange_red={_show(self.orange_red)} with smallest eigenvalue {smallest:.6g}")
            raise _Issues([((), msg, self.model_dump())])
        return self


class MeanReversionParams(_Base):
    """Ornstein-Uhlenbeck deviation of the log price around its drift line."""

    speed: float = Field(0.2, gt=0, le=10, description="Reversion speed kappa, per year.")


class RegimeSwitchingParams(_Base):
    """One bull/bear chain shared by all zones: drift offset by regime, sigma scaled in bear."""

    bull_market_rate: float = Field(0.08, ge=-0.5, le=0.5, description="Bull drift offset, /year.")
    bear_market_rate: float = Field(-0.03, ge=-0.5, le=0.5, description="Bear drift offset, /year.")
    bull_to_bear_prob: Unit = Field(0.1, description="Annual probability of a bull -> bear switch.")
    bear_to_bull_prob: Unit = Field(0.3, description="Annual probability of a bear -> bull switch.")
    bear_volatility_multiplier: float = Field(1.5, ge=0, le=10, description="Sigma scale in bear.")

    @model_validator(mode="after")
    def _chain_moves(self) -> "RegimeSwitchingParams":
        if self.bull_to_bear_prob + self.bear_to_bull_prob <= 0:
            msg = (f"bull_to_bear_prob + bear_to_bull_prob must be greater than 0, got "
                   f"{_show(self.bull_to_bear_prob)} + {_show(self.bear_to_bull_prob)}")
            raise _Issues([((), msg, self.model_dump())])
        return self


class PricePathConfig(_Base):
    """House-price index model per zone, suburb and home."""

    model_type: Literal["gbm", "mean_reversion", "regime_switching"] = Field(
        "gbm", description="Exact log-space GBM, OU mean reversion, or bull/bear regimes.")
    volatility: UnitZoneValues = _zones(
        UnitZoneValues, 0.03, 0.05, 0.08, "Annual sigma of each zone's log price index.")
    correlation_matrix: CorrelationMatrix = Field(
        default_factory=CorrelationMatrix, description="Zone shock correlations, PSD.")
    mean_reversion_params: MeanReversionParams = Field(
        default_factory=MeanReversionParams, description="Parameters of mean_reversion.")
    regime_switching_params: RegimeSwitchingParams = Field(
        default_factory=RegimeSwitchingParams, description="Parameters of regime_switching.")
    suburb_variation: Unit = Field(0.02, description="Annual sigma of a per-suburb random walk.")
    property_variation: Unit = Field(0.01, description="Annual sigma of a per-home random walk.")
    suburbs_per_zone: int = Field(10, ge=1, le=100, description="Suburbs each zone is split into.")


class ExitConfig(_Base):
    """Competing monthly hazards of sale, refinance and default, plus liquidation terms."""

    base_exit_rate: float = Field(0.10, ge=0, le=2, description="Annual voluntary-exit hazard.")
    sale_weight: float = Field(0.6, ge=0, description="Sale share of the exit hazard (normalised).")
    refinance_weight: float = Field(0.4, ge=0, description="Refinance share (normalised).")
    appreciation_sale_multiplier: Multiplier = Field(
        2.0, description="Sale hazard x (1 + mult * max(gain, 0)).")
    refinance_ltv_threshold: Unit = Field(
        0.5, description="Refinance hazard rises as current claim / value falls below this.")
    interest_rate_refinance_multiplier: Multiplier = Field(
        3.0, description="Refinance hazard x (1 + mult * max(0, threshold - current LTV)).")
    economic_factor_default_multiplier: Multiplier = Field(
        2.0, description="Default hazard x (1 + mult * max(-gain, 0)).")
    min_hold_period: Years = Field(1.0, description="Years before any voluntary exit.")
    foreclosure_cost: Unit = Field(0.10, description="Cost, fraction of home value at sale.")
    foreclosure_time: int = Field(12, ge=0, le=120, description="Months from default to recovery.")
    liquidation_discount: Unit = Field(
        0.05, description="Loans alive at fund end sell at fair value x (1 - this).")

    @model_validator(mode="after")
    def _weights_positive(self) -> "ExitConfig":
        weights = {"sale_weight": self.sale_weight, "refinance_weight": self.refinance_weight}
        if sum(weights.values()) <= 0:
            msg = (f"sale_weight + refinance_weight must be greater than 0, got "
                   f"{_show(self.sale_weight)} + {_show(self.refinance_weight)}")
            raise _Issues([((), msg, weights)])
        return self


class FeeConfig(_Base):
    """Management fees, fund expenses, set-up costs and transaction fees."""

    management_fee_rate: FeeRate = Field(0.02, description="Management fee per year, of basis.")
    management_fee_basis: Literal["committed_capital", "invested_capital", "net_asset_value"] = (
        Field("committed_capital", description="What the management fee is charged on."))
    management_fee_schedule: list[FeeRate] = Field(
        default_factory=list, max_length=30,
        description="Per-year overrides: entry y replaces the rate in fund year y (0-based).")
    annual_fund_expenses: FeeRate = Field(0.005, description="Per year, fraction of commitments.")
    fixed_annual_expenses: Dollars = Field(100_000, description="Fixed expenses per year ($).")
    expense_growth_rate: float = Field(
        0.02, ge=-0.5, le=0.5, description="Yearly escalation of both expense items.")
    setup_costs: Dollars = Field(250_000, description="One-off set-up cost at month 0 ($).")
    acquisition_fee_rate: FeeRate = Field(0.0, description="Of home value at origination.")
    disposition_fee_rate: FeeRate = Field(0.0, description="Fraction of exit proceeds.")


class GuardrailConfig(_Base):
    """Thresholds of the non-blocking guardrail checks, one field per rule (severity noted)."""

    max_ltv: Unit = Field(0.65, description="Max origination LTV (warning).")
    stress_ltv: Unit = Field(0.90, description="Max claim/value after a -20% price fall (error).")
    max_loan_size: LoanSizeZoneValues = _zones(
        LoanSizeZoneValues, 500_000, 400_000, 300_000, "Max advance per zone, $ (error).")
    zone_concentration: UnitZoneValues = _zones(
        UnitZoneValues, 1.0, 0.40, 0.20, "Max share of deployed capital per zone (error).")
    suburb_concentration: Unit = Field(0.10, description="Max deployed share, a suburb (error).")
    loan_concentration: Unit = Field(0.02, description="Max advance / commitments (warning).")
    loan_term_beyond_fund: Unit = Field(
        0.25, description="Max share of deployed capital force-liquidated at fund end, median "
        "scenario (warning).")
    unpaid_fees: Dollars = Field(
        0.0, description="Max fees and expenses still owed at fund end, any scenario, $ (error).")
    weighted_average_life: float = Field(8.0, ge=0, le=100, description="Max WAL, years (warning).")
    var_99: Unit = Field(0.15, description="Max VaR99 of the LP loss max(0, 1 - TVPI) (error).")
    cvar_99: Unit = Field(0.20, description="Max CVaR99 of the LP loss (error).")
    irr_p5: float = Field(
        0.025, ge=0, le=1, description="Margin below the hurdle: the P5 of the LP net IRR must be "
        "at least hurdle_rate - irr_p5 (warning).")
    hurdle_clear_probability: Unit = Field(0.70, description="Min P(LP IRR >= hurdle) (warning).")
    min_simulations: int = Field(500, ge=1, le=100_000, description="Fewest scenarios (info).")
    seed_missing: bool = Field(True, description="Report a drawn seed when none given (info).")
    combined_ltv: Unit = Field(0.8, description="Max (senior + advance) / value, junior liens (error).")
    cap_binding_share: Unit = Field(0.0, description="Share of exits where the cap binds (info).")
    facility_ltv: Unit = Field(0.0, description="Max share of scenarios whose NAV facility "
                               "breaches its ltv_covenant (error).")
    interest_coverage: float = Field(1.25, ge=0, le=100, description="Min trailing-12-month "
                                     "proceeds after fees / facility interest (warning).")
    subscription_line_irr_uplift: Unit = Field(
        0.02, description="Max median LP IRR - LP IRR as if unlevered (warning).")


#: Config sections added after results were first published, and their guardrails: a config
#: that does not state the section dumps without them (the same JSON as before).
OPTIONAL_SECTIONS = {"contract": ("combined_ltv", "cap_binding_share"),
                     "leverage": ("facility_ltv", "interest_coverage",
                                  "subscription_line_irr_uplift")}


class Tranche(_Base):
    """A debt tranche, paid interest and principal ahead of equity."""

    name: str = Field(min_length=1, description="Unique tranche name.")
    type: Literal["senior_debt", "mezzanine"] = Field(description="Tranche kind.")
    size: float = Field(gt=0, description="Principal ($).")
    interest_rate: Unit = Field(description="Interest per year.")
    priority: int = Field(ge=1, description="Payment order (1 is paid first).")


class FundConfig(_Base):
    """The whole simulation configuration (the top level of the config JSON)."""

    # Fund and waterfall
    fund_size: float = Field(100_000_000, ge=1_000_000, description="Committed equity capital ($).")
    fund_term: int = Field(10, ge=1, le=30, description="Fund life, years; then all loans exit.")
    vintage_year: int = Field(2025, ge=1900, le=2100, description="First year (month 0 = 1 Jan).")
    gp_commitment_percentage: Unit = Field(0.02, description="GP share of commitments, pari passu.")
    deployment_period: Years = Field(3, description="Years to originate the initial book.")
    deployment_pace: Literal["even", "front_loaded", "back_loaded"] = Field(
        "even", description="Shape of origination over the deployment period.")
    reinvestment_period: Years = Field(5, description="Years in which proceeds are recycled.")
    reinvestment_rate: Unit = Field(1.0, description="Fraction of returned principal recycled.")
    cash_reserve_rate: float = Field(
        0.02, ge=0, le=0.2, description="Fraction of commitments held back for fees and expenses.")
    distribution_frequency: Literal["monthly", "quarterly", "annual"] = Field(
        "quarterly", description="When free cash is paid out.")
    waterfall_structure: Literal["european", "american"] = Field(
        "european", description="Whole-fund (european) or deal-by-deal (american).")
    hurdle_rate: Unit = Field(0.08, description="LP preferred return per year.")
    preferred_return_compounding: Literal["annual", "quarterly", "monthly", "continuous"] = Field(
        "annual", description="How the preferred return compounds.")
    catch_up_rate: Unit = Field(1.0, description="GP share in the catch-up tier (1 = full).")
    carried_interest_rate: float = Field(0.20, ge=0, le=0.5, description="GP carried interest.")
    clawback_provision: bool = Field(True, description="GP returns excess carry at the end.")
    management_fee_offset_percentage: Unit = Field(
        0.0, description="Share of management fees that reduces carry.")
    tranches: list[Tranche] = Field(
        default_factory=list, description="Optional debt tranches paid ahead of equity.")

    # Loans
    avg_loan_size: float = Field(250_000, ge=10_000, description="Mean advance ($).")
    loan_size_std_dev: Dollars = Field(50_000, description="Standard deviation of advances ($).")
    min_loan_size: Dollars = Field(100_000, description="Lower truncation bound of advances ($).")
    max_loan_size: float = Field(500_000, gt=0, description="Upper truncation bound ($).")
    avg_loan_ltv: Unit = Field(0.40, description="Mean advance / home value at origination.")
    ltv_std_dev: float = Field(0.10, ge=0, le=0.5, description="Std dev of origination LTV.")
    min_ltv: float = Field(0.15, gt=0, lt=1, description="Lower truncation bound of the LTV.")
    max_ltv: float = Field(0.65, gt=0, lt=1, description="Upper truncation bound of the LTV.")
    interest_rate: float = Field(0.05, ge=0, le=0.3, description="Simple interest per year.")
    loan_term: int = Field(10, ge=1, le=30, description="Contract maturity in years.")
    origination_fee_rate: FeeRate = Field(0.03, description="Paid by homeowner at origination.")
    origination_fee_recipient: Literal["gp", "fund"] = Field("gp", description="Who keeps the fee.")
    appreciation_share_method: Literal["pro_rata_ltv", "fixed", "tiered"] = Field(
        "pro_rata_ltv", description="Fund's gain share: the LTV, a fixed share or a tier table.")
    appreciation_share: Unit = Field(0.4, description="The fixed share of the gain.")
    tiered_appreciation_thresholds: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [0.2, 0.5, 1.0], description="Gain tier bounds (increasing).")
    tiered_appreciation_shares: list[Unit] = Field(
        default_factory=lambda: [0.15, 0.25, 0.35, 0.45],
        description="Marginal share of the gain per tier: len(thresholds) + 1 entries.")
    share_depreciation: bool = Field(False, description="Whether the fund shares price falls.")
    annual_return_cap: float | None = Field(
        None, ge=0, le=1, description="Claim never exceeds the advance compounded at this rate.")
    zone_allocations: AllocationZoneValues = _zones(
        AllocationZoneValues, 0.6, 0.3, 0.1, "Target capital share by zone (sums to 1).")
    appreciation_rates: AppreciationZoneValues = _zones(
        AppreciationZoneValues, 0.05, 0.03, 0.01, "Annual price drift per zone.")
    default_rates: UnitZoneValues = _zones(
        UnitZoneValues, 0.01, 0.03, 0.05, "Annual default hazard per zone at zero price change.")
    recovery_rates: UnitZoneValues = _zones(
        UnitZoneValues, 0.9, 0.8, 0.7, "Recovery on the collateral per zone.")
    contract: ContractConfig = Field(default_factory=ContractConfig, description="Contract.")
    leverage: LeverageConfig = Field(default_factory=LeverageConfig,
                                     description="NAV facility and subscription line (off).")

    # Engine stages
    price_path: PricePathConfig = Field(default_factory=PricePathConfig, description="Price model.")
    exit_simulator: ExitConfig = Field(default_factory=ExitConfig, description="Exit model.")
    fee_engine: FeeConfig = Field(default_factory=FeeConfig, description="Fees and expenses.")

    # Monte Carlo
    num_simulations: int = Field(1000, ge=1, le=100_000, description="Number of scenarios.")
    monte_carlo_seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Seed; null draws one and reports it.")
    sample_paths: int = Field(20, ge=0, le=1000, description="Scenarios keeping full paths.")
    guardrails: GuardrailConfig = Field(
        default_factory=GuardrailConfig, description="Guardrail thresholds, {rule: threshold}.")
    market_stress: MarketStress | None = Field(
        None, description="A price shock and exit-hazard multipliers applied inside the run "
        "(ANALYSES.md); null: none.")
    portfolio: PortfolioConfig | None = Field(
        None, description="The fund's own loan book and its position at as_of (DOMAIN.md, "
        "\"The fund's own book\"); null: a synthetic pool from month 0.")

    @model_validator(mode="after")
    def _cross_field_rules(self) -> "FundConfig":
        issues: list[tuple[Loc, str, Any]] = []

        def check(ok: bool, loc: Loc, rule: str, value: Any) -> None:
            if not ok:
                issues.append((loc, f"{rule}, got {_show(value)}", value))

        for name, lo_name, hi_name in (("avg_loan_size", "min_loan_size", "max_loan_size"),
                                       ("avg_loan_ltv", "min_ltv", "max_ltv")):
            value, lo, hi = getattr(self, name), getattr(self, lo_name), getattr(self, hi_name)
            check(lo <= hi, (lo_name,), f"must be at most {hi_name} ({_show(hi)})", lo)
            check(hi < lo or lo <= value <= hi, (name,),
                  f"must be between {lo_name} ({_show(lo)}) and {hi_name} ({_show(hi)})", value)
        for name in ("deployment_period", "reinvestment_period"):
            check(getattr(self, name) <= self.fund_term, (name,),
                  f"must be at most fund_term ({self.fund_term} years)", getattr(self, name))
        bounds, shares = self.tiered_appreciation_thresholds, self.tiered_appreciation_shares
        check(all(a < b for a, b in zip(bounds, bounds[1:], strict=False)),
              ("tiered_appreciation_thresholds",), "must be strictly increasing", bounds)
        check(len(shares) == len(bounds) + 1, ("tiered_appreciation_shares",),
              f"must have exactly len(tiered_appreciation_thresholds) + 1 = {len(bounds) + 1} "
              f"entries, not {len(shares)}", shares)
        names = [tranche.name for tranche in self.tranches]
        for i, name in enumerate(names):
            check(name not in names[:i], ("tranches", i, "name"),
                  "must be unique among tranches (duplicate name)", name)
        issues += [(("contract", *loc), msg, value) for loc, msg, value in self.contract.issues()]
        issues += [(("leverage", *loc), msg, value)
                   for loc, msg, value in self.leverage.issues(self.fund_term)]
        if self.portfolio is not None:
            issues += [(("portfolio", *loc), msg, value)
                       for loc, msg, value in self.portfolio.issues(self.fund_size)]
        if issues:
            raise _Issues(issues)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible nested dict of every parameter (``market_stress`` and ``portfolio``
        only when set; a
        config that states no contract or leverage dumps as before they existed: without the
        section, its guardrails omitted at defaults)."""
        data = self.model_dump(mode="json")
        for optional in ("market_stress", "portfolio"):
            if data[optional] is None:
                del data[optional]
        for section, rules in OPTIONAL_SECTIONS.items():
            if section not in self.model_fields_set:
                data.pop(section)
                for name in rules:
                    if data["guardrails"][name] == GuardrailConfig.model_fields[name].default:
                        del data["guardrails"][name]
        return data

    # The calendar: every stage counts months from these, never from the years itself.
    @property
    def months(self) -> int:
        """M, the fund's last month (months run 0..M)."""
        return MONTHS_PER_YEAR * self.fund_term

    @property
    def deployment_months(self) -> int:
        """Months over which the initial book is originated (at least one)."""
        return max(1, round(MONTHS_PER_YEAR * self.deployment_period))

    @property
    def reinvestment_months(self) -> int:
        """Principal received before this month is recycled into new loans."""
        return round(MONTHS_PER_YEAR * self.reinvestment_period)

    @property
    def loan_term_months(self) -> int:
        """Contract maturity of a loan, months after its origination."""
        return MONTHS_PER_YEAR * self.loan_term

    @property
    def min_hold_months(self) -> int:
        """No voluntary exit in a loan's first months."""
        return round(MONTHS_PER_YEAR * self.exit_simulator.min_hold_period)


def _entry(loc: Loc, text: str, value: Any, label: str = "config") -> Entry:
    return {"loc": list(loc), "msg": f"{_path(loc) or label}: {text}", "value": value}


def _translate(exc: ValidationError, root: type[BaseModel], label: str = "config") -> list[Entry]:
    """One plain-words entry per offending field of a pydantic ValidationError."""
    out: list[Entry] = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _Issues):
            out.extend(_entry(loc + rel, text, value, label) for rel, text, value in cause.issues)
            continue
        value = None if err["type"] == "missing" else err.get("input")
        out.append(_entry(loc, _message(dict(err), loc, value, root), value, label))
    return out


def validate_config(data: dict[str, Any]) -> FundConfig:
    """Validate a nested config dict; raise :class:`ConfigError` listing every offending field."""
    if not isinstance(data, dict):
        raise ConfigError([_entry((), f"{_OBJECT}, got {_show(data, tidy=False)}", data)])
    try:
        return FundConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_translate(exc, FundConfig)) from None


PRESETS: dict[str, dict[str, Any]] = {
    "100m": {  # the earlier engine's canonical $100M fund
        "fund_size": 100_000_000, "fund_term": 10, "vintage_year": 2025,
        "gp_commitment_percentage": 0.02, "waterfall_structure": "european", "hurdle_rate": 0.08,
        "carried_interest_rate": 0.20, "catch_up_rate": 1.0, "origination_fee_rate": 0.03,
        "avg_loan_size": 400_000, "loan_size_std_dev": 100_000, "min_loan_size": 50_000,
        "max_loan_size": 1_000_000, "avg_loan_ltv": 0.40, "ltv_std_dev": 0.10, "min_ltv": 0.15,
        "max_ltv": 0.65, "interest_rate": 0.05, "loan_term": 10, "reinvestment_period": 5,
        # ticket limits that admit the preset's own loan-size bound (no error on its defaults)
        "guardrails": {"max_loan_size": {"green": 1_000_000, "orange": 1_000_000,
                                         "red": 1_000_000}},
        "zone_allocations": {"green": 0.45, "orange": 0.35, "red": 0.20},
        "appreciation_rates": {"green": 0.06, "orange": 0.05, "red": 0.04},
        "default_rates": {"green": 0.005, "orange": 0.015, "red": 0.025},
        "recovery_rates": {"green": 0.95, "orange": 0.85, "red": 0.75},
        "price_path": {
            "volatility": {"green": 0.12, "orange": 0.15, "red": 0.18},
            "correlation_matrix": {"green_orange": 0.7, "green_red": 0.5, "orange_red": 0.8},
        },
        "fee_engine": {
            "management_fee_rate": 0.02, "management_fee_basis": "committed_capital",
            "annual_fund_expenses": 0.005, "fixed_annual_expenses": 100_000,
            "expense_growth_rate": 0.02, "setup_costs": 250_000,
        },
        "monte_carlo_seed": 42,
    },
}


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``overrides`` on top: dicts merge recursively; any other value
    replaces (copied, so the result shares nothing mutable with ``overrides``)."""
    out = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = deep_merge(out[key], value) if nested else copy.deepcopy(value)
    return out


PRESETS.update({name: deep_merge(PRESETS["100m"], over) for name, over in CONTRACT_PRESETS.items()})


def _source_error(loc: str, text: str, value: Any) -> ConfigError:
    return ConfigError([_entry((loc,), text, value)])


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a ConfigError naming the path and the problem otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        problem = "" if isinstance(data, dict) else f"holds {type(data).__name__}, not an object"
    except OSError as exc:
        problem = f"cannot be read: {exc.strerror or exc}"
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        problem = f"is not valid JSON: {exc}"
    if problem:
        raise _source_error("source", f"config file '{path}' {problem}", str(path))
    return data


Source = FundConfig | dict[str, Any] | str | Path | None


def load_config(source: Source = None, overrides: dict[str, Any] | None = None) -> FundConfig:
    """Validated config from the defaults (None), a FundConfig, a dict, a preset name or a .json
    file path, with ``overrides`` deep-merged on top (dicts merge, other values replace)."""
    if source is None or isinstance(source, dict):
        data = copy.deepcopy(source or {})
    elif isinstance(source, FundConfig):
        data = source.model_dump(exclude={name for name in OPTIONAL_SECTIONS
                                          if name not in source.model_fields_set})
    elif isinstance(source, Path) or (isinstance(source, str) and source.lower().endswith(".json")):
        data = _read_json(Path(source))
    elif isinstance(source, str) and source in PRESETS:
        data = copy.deepcopy(PRESETS[source])
    elif isinstance(source, str):
        text = f"unknown preset {source!r} (available: {', '.join(sorted(PRESETS))})"
        raise _source_error("preset", text, source)
    else:
        text = f"must be a FundConfig, dict, preset name or .json path, got {type(source).__name__}"
        raise _source_error("source", text, None)
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise _source_error("overrides", f"{_OBJECT}, got {_show(overrides)}", overrides)
        data = deep_merge(data, overrides)
    return validate_config(data)


def config_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of :class:`FundConfig`."""
    schema = {"$schema": SCHEMA_DIALECT, **FundConfig.model_json_schema()}
    return {**schema, "title": "Equihome fund configuration"}
