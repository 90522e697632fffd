"""Axis ticks and the SVG charts built on them (core/charts): an axis spans the data with round
steps, so a cent of spend is drawn as a cent, not as a flat line under a 0..1 axis."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.charts import BarSeries, ChartSeries, bar_chart, format_number, line_chart, nice_axis


def labels(axis) -> list[str]:
    return [axis.label(tick) for tick in axis.ticks]


def test_a_cent_gets_an_axis_up_to_a_cent():
    axis = nice_axis(0, 0.01)
    assert labels(axis) == ["0", "0.002", "0.004", "0.006", "0.008", "0.010"]
    assert axis.high == pytest.approx(0.01)


@pytest.mark.parametrize(("high", "expected"), [
    (7, ["0", "1", "2", "3", "4", "5", "6", "7"]),
    (99.5, ["0", "20", "40", "60", "80", "100"]),
    (1234, ["0", "200", "400", "600", "800", "1,000", "1,200", "1,400"]),
    (0.08, ["0", "0.02", "0.04", "0.06", "0.08"]),
    (0.00001, ["0", "0.000002", "0.000004", "0.000006", "0.000008", "0.000010"]),
])
def test_ticks_are_round_steps_that_cover_the_data(high, expected):
    assert labels(nice_axis(0, high)) == expected


def test_ticks_carry_no_float_noise():
    axis = nice_axis(0, 0.3)
    assert all(isinstance(tick, Decimal) for tick in axis.ticks)
    assert labels(axis) == ["0", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"]


def test_no_data_gets_a_zero_to_one_axis():
    assert labels(nice_axis(0, 0)) == ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]


def test_counts_never_get_fractional_ticks():
    assert labels(nice_axis(0, 1, whole=True)) == ["0", "1"]
    assert labels(nice_axis(0, 3, whole=True)) == ["0", "1", "2", "3"]
    assert labels(nice_axis(0, 0, whole=True)) == ["0", "1"]


def test_fewer_ticks_asked_for_a_phone_stay_round():
    axis = nice_axis(0, 0.011, count=3)
    assert labels(axis) == ["0", "0.005", "0.010", "0.015"]


def test_negative_values_keep_zero_on_a_tick():
    axis = nice_axis(-3, 10)
    assert "0" in labels(axis) and axis.low <= -3 and axis.high >= 10


@pytest.mark.parametrize(("value", "text"), [
    (1, "1"), (1200, "1,200"), (0.01, "0.01"), (0.00001, "0.00001"), (0.00012345, "0.000123"), (12.345, "12.35"),
])
def test_figures_keep_their_small_digits(value, text):
    assert format_number(value) == text


def _ys(svg: str) -> list[float]:
    points = re.search(r'<polyline [^>]*points="([^"]+)"', svg)[1]
    return [float(pair.split(",")[1]) for pair in points.split()]


def test_line_chart_draws_a_cent_up_to_its_top_tick():
    today = date(2026, 12, 5)
    html = str(line_chart(title="Cost per day", unit="USD", since=today - timedelta(days=29), until=today,
                          series=[ChartSeries("vendor.tiny", {today: 0.01})]))
    wide = re.search(r'<svg class="chart line wide".*?</svg>', html)[0]
    assert 'data-top-tick="0.010"' in wide
    top_grid = min(float(y) for y in re.findall(r'<line class="grid"[^>]* y1="([\d.]+)"', wide))
    ys = _ys(wide)
    assert min(ys) == pytest.approx(top_grid)  # the cent reaches the top of the axis
    assert max(ys) > min(ys) + 100  # and the other days sit at zero, far below it
    assert "0.01 USD in 30 days" in html  # the legend's total
    assert re.search(r'<svg class="chart line narrow"', html)  # the phone drawing


def test_line_chart_takes_decimal_sums_and_counts_get_whole_ticks():
    today = date(2026, 12, 5)
    html = str(line_chart(title="Revenue", since=today - timedelta(days=6), until=today,
                          series=[ChartSeries("EUR", {today: Decimal("0.0150")})]))
    assert 'data-top-tick="0.016"' in html and "EUR: 0.015 in 7 days" in html
    counts = str(line_chart(title="Sign-ups", since=today - timedelta(days=6), until=today,
                            series=[ChartSeries("Sign-ups", {today: 2})]))
    assert re.findall(r'class="tick y"[^>]*>([^<]+)<', counts)[:3] == ["0", "1", "2"]


def test_line_chart_escapes_series_labels():
    today = date(2026, 12, 5)
    html = str(line_chart(title="<b>", since=today, until=today, series=[ChartSeries("<script>", {today: 1})]))
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>" not in html


def test_bar_chart_gives_each_series_one_colour_and_a_legend():
    html = str(bar_chart(title="Latency", categories=["batch 1", "batch 8"], unit="ms", series=[
        BarSeries("p50 (median)", [0.05, 0.2]), BarSeries("p95", [0.08, 0.3])]))
    wide = re.search(r'<svg class="chart bars wide".*?</svg>', html)[0]
    fills = {}
    for series, fill in re.findall(r'<rect class="bar" data-series="([^"]+)"[^>]* fill="([^"]+)"', wide):
        fills.setdefault(series, set()).add(fill)
    assert fills == {"p50 (median)": {"#0072B2"}, "p95": {"#D55E00"}}
    assert "p50 (median)</li>" in html and "p95</li>" in html
    assert "0.3 ms" in wide and ">0.30</text>" in wide  # the value, and the top tick just above it


def test_bar_chart_without_figures_is_empty():
    assert bar_chart(title="Latency", categories=[], series=[]) == ""
    assert bar_chart(title="Latency", categories=["batch 1"], series=[BarSeries("p50", [None])]) == ""
