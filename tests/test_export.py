"""Tabular exports (equihome.io.export): typed pandas frames equal to the result's own
numbers, Excel workbooks read back with openpyxl (numbers as numbers, exact, with their
number formats), Parquet read back bit for bit, and clear errors for a missing extra or an
unknown frame name. Every run is real (64 scenarios, seed 3)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest

import equihome
from equihome.io import export
from equihome.io.result import LABELS
from equihome.run.analyses import stress, tornado
from equihome.run.sweep import STAT_COLUMNS

N, SEED = 64, 3
PCT, MULT, DOLLARS_M, DOLLARS, COUNT = "0.00%", '0.000"x"', '$#,##0.00,,"M"', "$#,##0", "#,##0"
ZONE_RATES = {"green": 0.03, "orange": 0.04, "red": 0.05}


@pytest.fixture(scope="module")
def result():
    return equihome.simulate("100m", num_simulations=N, seed=SEED)


@pytest.fixture(scope="module")
def stressed():
    return stress("100m", scenarios=["haircut_10"], num_simulations=N, seed=SEED)


@pytest.fixture(scope="module")
def swept():
    return equihome.sweep("100m", grid={"avg_loan_ltv": [0.3, 0.4],
                                        "appreciation_rates": [ZONE_RATES]},
                          num_simulations=N, seed=SEED)


def floats(values) -> np.ndarray:
    """Cells or a column as float64 (None and <NA> as NaN)."""
    return np.array([np.nan if v is None or v is pd.NA else v for v in values], dtype=float)


def sheet(path, title) -> tuple[list[str], list[list[openpyxl.cell.Cell]]]:
    """(header, data rows of cells) of one sheet of a saved workbook."""
    ws = openpyxl.load_workbook(path)[title]
    rows = list(ws.iter_rows())
    return [c.value for c in rows[0]], rows[1:]


def column(header, rows, name) -> list:
    j = header.index(name)
    return [r[j] for r in rows]


# --------------------------------------------------------------------------- frames


def test_scenarios_frame_is_the_result_arrays(result):
    f = result.to_frame()
    assert list(f.columns) == list(result.scenarios)
    assert f.index.name == "scenario" and list(f.index) == list(range(N))
    for k, v in result.scenarios.items():
        want = "Int64" if k in ("num_loans", "num_initial_loans", "num_reinvested_loans") \
            else "float64"
        assert str(f[k].dtype) == want, k
        assert np.array_equal(floats(f[k]), v, equal_nan=True), k
    assert np.isnan(f["payback_month"]).sum() == np.isnan(result.scenarios["payback_month"]).sum()


def test_statistics_frame_equals_the_statistics(result):
    f = result.to_frame("statistics")
    assert list(f.columns) == [*export.STAT_NUMBERS, "count"]
    assert list(f.index) == list(result.statistics) and f.index.name == "metric"
    assert all(f[c].dtype == np.float64 for c in export.STAT_NUMBERS)
    assert f["count"].dtype == np.int64
    for m, st in result.statistics.items():
        for c in export.STAT_NUMBERS:
            assert f.loc[m, c] == st[c] or (st[c] is None and np.isnan(f.loc[m, c])), (m, c)
        assert f.loc[m, "count"] == st["count"]
    # the median is the 50th percentile of the finite scenario values, recomputed here
    assert f.loc["lp_irr", "p50"] == result.percentile("lp_irr", 50)
    assert f.loc["lp_irr", "count"] == np.isfinite(result.scenarios["lp_irr"]).sum()


def test_statistics_include_the_contract_section():
    r = equihome.simulate("100m", num_simulations=32, seed=SEED, overrides={"contract": {}})
    f = r.to_frame("statistics")
    for m, st in r.data["contract"]["statistics"].items():
        assert f.loc[m, "p50"] == st["p50"] and f.loc[m, "count"] == st["count"]
    assert list(f.index[: len(r.statistics)]) == list(r.statistics)


def test_summary_fans_tables_risk_and_inputs_frames(result):
    s = result.to_frame("summary")
    assert list(s.columns) == ["label", "p5", "p50", "p95"]
    assert s.loc["lp_irr", "label"] == LABELS["lp_irr"][0]
    assert s.loc["lp_tvpi", "p95"] == result.statistics["lp_tvpi"]["p95"]

    fans = result.to_frame("fans")
    assert fans.index.name == "year" and fans.index.dtype == np.int64
    assert list(fans.index) == result.fans["years"]
    names = [n for n in result.fans if n != "years"]
    assert list(fans.columns) == [f"{n}_{q}" for n in names for q in ("p5", "p50", "p95")]
    for n in names:
        for q in ("p5", "p50", "p95"):
            assert np.array_equal(fans[f"{n}_{q}"], floats(result.fans[n][q]), equal_nan=True)

    g = result.to_frame("guardrails")
    assert list(g["rule"]) == [v["rule"] for v in result.guardrails]
    assert list(g["severity"].cat.categories) == ["error", "warning", "info"]
    assert [json.loads(d) for d in g["details"]] == [v["details"] for v in result.guardrails]
    assert pd.api.types.is_string_dtype(g["message"])

    t = result.to_frame("tranches")
    assert list(t["name"]) == [r["name"] for r in result.tranches]
    assert t["return"].dtype == np.float64 and t["multiple"].dtype == np.float64
    assert t["multiple"].iloc[-1] == result.statistics["lp_tvpi"]["p50"]  # the LP equity row

    mix = result.to_frame("exit_mix")
    assert list(mix.index) == list(result.exit_mix)
    assert mix["share"].sum() == pytest.approx(1.0, abs=1e-12)
    assert mix.loc["default", "mean_per_scenario"] == result.exit_mix["default"]["mean_per_scenario"]

    risk = result.to_frame("risk")
    assert dict(risk["value"]) == result.risk
    assert "1 - TVPI" in risk.loc["var_99", "meaning"]

    inputs = result.to_frame("inputs")["value"]
    assert inputs["seed"] == SEED and inputs["fund_size"] == result.data["config"]["fund_size"]
    assert inputs["appreciation_rates.green"] == result.data["config"]["appreciation_rates"]["green"]


def test_unknown_frame_names_the_valid_ones(result, stressed, swept):
    with pytest.raises(ValueError, match="unknown frame 'nav'.*valid: scenarios, statistics, "
                                         "summary, fans, guardrails, tranches, exit_mix, risk"):
        result.to_frame("nav")
    with pytest.raises(ValueError, match="valid: rows, summary, fans, inputs"):
        stressed.to_frame("scenarios")
    with pytest.raises(ValueError, match=r"unknown frame 'fans' \(valid: rows, summary, inputs\)"):
        swept.to_frame("fans")


def test_rows_frame_types_and_splits_by_hand():
    rows = [{"n": 1, "x": 0.5, "z": {"green": 0.1, "orange": 0.2, "red": 0.3}, "l": ["a", "b"],
             "ok": True, "error": None},
            {"n": None, "x": None, "z": 0.7, "l": [], "ok": False, "error": "bad"}]
    f = export.rows_frame(rows, ["n", "x", "z", "l", "ok", "error"])
    assert list(f.columns) == ["n", "x", "z", "z_green", "z_orange", "z_red", "l", "ok", "error"]
    assert str(f["n"].dtype) == "Int64" and f["n"].iloc[0] == 1 and f["n"].iloc[1] is pd.NA
    assert f["x"].dtype == np.float64 and np.isnan(f["x"].iloc[1])
    assert np.array_equal(f["z"], [np.nan, 0.7], equal_nan=True)
    assert np.array_equal(f["z_orange"], [0.2, np.nan], equal_nan=True)
    assert list(f["l"]) == ["a, b", ""] and f["ok"].dtype == bool
    assert pd.api.types.is_string_dtype(f["error"]) and f["error"].iloc[1] == "bad"
    assert export.flatten({"a": {"b": 1, "c": [2, 3]}, "d": [], "e": None}) == {
        "a.b": 1, "a.c.0": 2, "a.c.1": 3, "d": "[]", "e": None}


def test_stress_frames(stressed):
    f = stressed.to_frame()
    assert list(f.columns) == stressed.data["columns"]
    assert list(f["scenario"]) == ["base", "haircut_10"]
    for c in stressed.data["columns"][1:-1]:
        assert f[c].dtype == np.float64
        assert list(f[c]) == [r[c] for r in stressed.rows], c
    assert list(f["guardrails"]) == [", ".join(r["guardrails"]) for r in stressed.rows]
    fans = stressed.to_frame("fans")
    years = stressed.data["fans"]["years"]
    assert list(fans.columns[:2]) == ["scenario", "year"] and len(fans) == 2 * len(years)
    assert list(fans["scenario"].cat.categories) == ["base", "haircut_10"]
    hit = fans[fans["scenario"] == "haircut_10"]
    assert list(hit["year"]) == years
    assert list(hit["nav_p50"]) == stressed.data["fans"]["haircut_10"]["nav"]["p50"]
    summary = stressed.to_frame("summary")["value"]
    assert summary["kind"] == "stress" and summary["seed"] == SEED
    assert summary["num_simulations"] == N


def test_tornado_splits_per_zone_inputs_beside_plain_ones():
    t = tornado("100m", {"appreciation_rates": 0.01, "hurdle_rate": 0.02},
                num_simulations=N, seed=SEED)
    f = t.to_frame()
    by = {r["parameter"]: i for i, r in enumerate(t.rows)}
    zone, plain = t.rows[by["appreciation_rates"]], t.rows[by["hurdle_rate"]]
    assert {"low", "low_green", "low_orange", "low_red", "high_red"} <= set(f.columns)
    assert f["low_green"].iloc[by["appreciation_rates"]] == zone["low"]["green"]
    assert f["high_red"].iloc[by["appreciation_rates"]] == zone["high"]["red"]
    assert np.isnan(f["low"].iloc[by["appreciation_rates"]])
    assert f["low"].iloc[by["hurdle_rate"]] == plain["low"]
    assert np.isnan(f["low_green"].iloc[by["hurdle_rate"]])


def test_sweep_frame(swept):
    f = swept.to_frame()
    assert list(f.columns) == ["avg_loan_ltv", "appreciation_rates_green",
                               "appreciation_rates_orange", "appreciation_rates_red",
                               *STAT_COLUMNS, "efficient"]
    assert f["efficient"].dtype == bool and list(f["efficient"]) == [r["efficient"] for r in swept.rows]
    assert list(f["appreciation_rates_red"]) == [0.05, 0.05]
    for c in STAT_COLUMNS:
        assert f[c].dtype == np.float64 and list(f[c]) == [r[c] for r in swept.rows], c
    assert swept.to_frame("inputs")["value"]["fund_size"] == swept.base_config["fund_size"]


# --------------------------------------------------------------------------- Excel


def test_simulation_workbook_reads_back_as_the_result(result, tmp_path):
    path = result.to_excel(tmp_path / "run.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Scenarios", "Statistics", "Fans", "Guardrails",
                             "Tranches", "Exit mix", "Risk", "Inputs"]
    for ws in wb:
        assert ws.freeze_panes == "A2", ws.title
        assert all(c.font.b for c in ws[1]), ws.title

    header, rows = sheet(path, "Scenarios")
    assert header == ["scenario", *result.scenarios]
    for k, v in result.scenarios.items():
        cells = column(header, rows, k)
        assert all(c.data_type == "n" for c in cells), k         # numbers, never text
        assert np.array_equal(floats(c.value for c in cells), v, equal_nan=True), k
    # openpyxl alone writes 16 digits: these values would not survive that
    assert any(float(f"{x:.16g}") != x for x in result.scenarios["lp_irr"])
    fmt = {k: column(header, rows, k)[0].number_format for k in header}
    assert (fmt["lp_irr"], fmt["lp_tvpi"], fmt["gp_carry"], fmt["num_loans"]) == (
        PCT, MULT, DOLLARS_M, COUNT)
    assert fmt["management_fees"] == DOLLARS_M and fmt["nav_drawdown"] == PCT

    header, rows = sheet(path, "Statistics")
    stats = {r[0].value: r for r in rows}
    for m, st in result.statistics.items():
        for c in (*export.STAT_NUMBERS, "count"):
            cell = stats[m][header.index(c)]
            assert cell.value == st[c] or (st[c] is None and cell.value is None), (m, c)
    assert stats["lp_irr"][header.index("p50")].number_format == PCT
    assert stats["gp_carry"][header.index("mean")].number_format == DOLLARS_M
    assert stats["lp_irr"][header.index("count")].number_format == COUNT
    assert isinstance(stats["lp_irr"][header.index("count")].value, int)

    header, rows = sheet(path, "Summary")
    key = {r[0].value: r for r in rows}
    assert key["lp_irr"][1].value == LABELS["lp_irr"][0]
    assert [key["lp_irr"][j].value for j in (2, 3, 4)] == [
        result.statistics["lp_irr"][q] for q in ("p5", "p50", "p95")]
    assert key["lp_tvpi"][3].number_format == MULT

    header, rows = sheet(path, "Fans")
    assert [r[0].value for r in rows] == result.fans["years"] and rows[0][0].number_format == "0"
    assert [c.value for c in column(header, rows, "lp_dpi_p50")] == result.fans["lp_dpi"]["p50"]
    assert column(header, rows, "nav_p50")[0].number_format == DOLLARS_M

    header, rows = sheet(path, "Guardrails")
    assert [r[0].value for r in rows] == [v["rule"] for v in result.guardrails]
    ws = wb["Guardrails"]
    assert ws.column_dimensions["C"].width >= 40      # the messages are readable

    header, rows = sheet(path, "Risk")
    assert {r[0].value: r[1].value for r in rows} == result.risk
    assert all(r[1].number_format == PCT for r in rows)

    header, rows = sheet(path, "Exit mix")
    assert {r[0].value: r[1].value for r in rows} == {
        k: v["share"] for k, v in result.exit_mix.items()}

    header, rows = sheet(path, "Inputs")
    inputs = {r[0].value: r[1] for r in rows}
    assert inputs["seed"].value == SEED
    assert inputs["fund_size"].value == 100_000_000 and inputs["fund_size"].number_format == DOLLARS
    assert inputs["hurdle_rate"].value == result.data["config"]["hurdle_rate"]
    assert inputs["hurdle_rate"].number_format == PCT


def test_analysis_and_sweep_workbooks(stressed, swept, tmp_path):
    path = stressed.to_excel(tmp_path / "stress.xlsx")
    assert openpyxl.load_workbook(path).sheetnames == ["Summary", "Stress", "Fans", "Inputs"]
    header, rows = sheet(path, "Stress")
    assert header == stressed.data["columns"]
    for i, r in enumerate(stressed.rows):
        got = {h: c.value for h, c in zip(header, rows[i], strict=True)}
        assert got == {**r, "guardrails": ", ".join(r["guardrails"])}
    fmt = {h: c.number_format for h, c in zip(header, rows[1], strict=True)}
    assert (fmt["irr_p50"], fmt["tvpi_p50"], fmt["gp_carry"], fmt["change"]) == (
        PCT, MULT, DOLLARS_M, PCT)
    header, rows = sheet(path, "Fans")
    assert len(rows) == 2 * len(stressed.data["fans"]["years"])
    assert [c.value for c in column(header, rows, "j_curve_p5")[:11]] == \
        stressed.data["fans"]["base"]["j_curve"]["p5"]

    path = swept.to_excel(tmp_path / "sweep.xlsx")
    assert openpyxl.load_workbook(path).sheetnames == ["Summary", "Sweep", "Inputs"]
    header, rows = sheet(path, "Sweep")
    assert header == list(swept.to_frame().columns)
    for i, r in enumerate(swept.rows):
        assert [c.value for c in rows[i][4:]] == [r[c] for c in (*STAT_COLUMNS, "efficient")]
        assert [c.value for c in rows[i][1:4]] == list(ZONE_RATES.values())
    assert rows[0][0].number_format == PCT and rows[0][2].number_format == PCT   # LTV, rates
    assert rows[0][header.index("tvpi_p50")].number_format == MULT


def test_cells_keep_numbers_and_big_seeds_as_text():
    assert export._cell_value(np.int64(7)) == 7 and export._cell_value(np.float64(0.25)) == 0.25
    assert export._cell_value(float("nan")) is None and export._cell_value(pd.NA) is None
    assert export._cell_value(2 ** 60) == str(2 ** 60)   # past 2**53 a double is not exact
    assert export._cell_value(np.bool_(True)) is True


# --------------------------------------------------------------------------- Parquet


def test_parquet_reads_back_bit_for_bit(result, tmp_path):
    path = result.to_parquet(tmp_path / "scenarios.parquet")
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, result.to_frame("scenarios"), check_exact=True)
    for k, v in result.scenarios.items():
        if back[k].dtype == np.float64:
            assert back[k].to_numpy().tobytes() == v.tobytes(), k
        else:
            assert np.array_equal(floats(back[k]), v), k
    about = json.loads(pq.read_schema(path).metadata[b"equihome"])
    assert about["seed"] == SEED and about["num_simulations"] == N
    assert about["config"] == result.data["config"]


# --------------------------------------------------------------------------- missing extras


def test_missing_extras_name_the_install(result, stressed, swept, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    for r in (result, stressed, swept):
        with pytest.raises(ImportError, match=r'to_excel\(\) needs openpyxl: pip install '
                                              r'"equihome\[lab\]"'):
            r.to_excel(tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r'to_parquet\(\) needs pyarrow: pip install '
                                          r'"equihome\[parquet\]"'):
        result.to_parquet(tmp_path / "x.parquet")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r'to_frame\(\) needs pandas: pip install '
                                          r'"equihome\[lab\]"'):
        stressed.to_frame()


def test_the_engine_runs_without_pandas_openpyxl_or_pyarrow():
    code = ("import sys\n"
            "for m in ('pandas', 'openpyxl', 'pyarrow'): sys.modules[m] = None\n"
            "import equihome, equihome.io.export\n"
            "r = equihome.simulate('100m', num_simulations=8, seed=1)\n"
            "assert r.statistics['lp_irr']['count'] == 8\n"
            "try:\n    r.to_frame()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'to_frame() needs pandas: pip install "equihome[lab]"'
