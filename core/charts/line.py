"""Daily series over a date range as inline SVG: one colour (and dash) per series, a legend with
each series' total, a y-axis scaled to the data and the numbers as a table.

Each chart is drawn twice, wide and narrow; modelbay.css shows one by the viewport's width, so a
phone gets text it can read instead of a desktop drawing shrunk to a third.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from core.charts.frame import LAYOUTS, PALETTE, Layout, dash, legend_swatch
from core.charts.ticks import Axis, format_number, nice_axis


@dataclass(frozen=True)
class ChartSeries:
    label: str
    points: dict[date, float]


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def _label_indices(count: int, wanted: int) -> list[int]:
    """`wanted` evenly spread positions out of `count`, first and last included."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def _svg(*, title: str, series: list[ChartSeries], axis_days: list[date], axis: Axis, unit: str,
         layout: Layout) -> str:
    width, height, font = layout.width, layout.height, layout.font
    left = max(len(axis.label(t)) for t in axis.ticks) * font * 0.62 + 12
    top, bottom, right = font + 10, font + 14, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    span = axis.high - axis.low

    def x(i: int) -> float:
        return left + plot_w * i / max(len(axis_days) - 1, 1)

    def y(value: float) -> float:
        return top + plot_h - plot_h * (value - axis.low) / span

    parts = [f'<svg class="chart line {layout.name}" viewBox="0 0 {width} {height}" role="img" '
             f'data-top-tick="{axis.label(axis.ticks[-1])}"><title>{escape(title)}</title>']
    if unit:
        parts.append(f'<text class="tick unit" x="4" y="{font}" font-size="{font}">{escape(unit)}</text>')
    for tick in axis.ticks:
        gy = y(float(tick))
        parts.append(f'<line class="grid" x1="{left:.1f}" x2="{width - right}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
                     f'<text class="tick y" x="{left - 6:.1f}" y="{gy + font * 0.35:.1f}" font-size="{font}" '
                     f'text-anchor="end">{axis.label(tick)}</text>')
    last = len(axis_days) - 1
    for i in _label_indices(len(axis_days), layout.x_labels):
        anchor = "start" if i == 0 and last else "end" if i == last and last else "middle"
        parts.append(f'<text class="tick x" x="{x(i):.1f}" y="{height - 6}" font-size="{font}" '
                     f'text-anchor="{anchor}">{axis_days[i]:%b %-d}</text>')
    for n, one in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        values = [one.points.get(day, 0.0) for day in axis_days]
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="series" data-series="{escape(one.label)}" fill="none" stroke="{colour}" '
                     f'stroke-width="2.5" stroke-linejoin="round"{dash(n)} points="{coords}"/>')
        # A dot on every day with a value, so one call in a month is a mark, not a hairline.
        parts += [f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}"/>'
                  for i, v in enumerate(values) if v]
    parts.append("</svg>")
    return "".join(parts)


def line_chart(*, title: str, series: list[ChartSeries], since: date, until: date, unit: str = "",
               whole: bool | None = None) -> SafeString:
    """`unit` labels the y-axis and the totals ("USD"); `whole`: the values are counts, so no
    tick falls between two whole numbers (by default: when every value is whole)."""
    axis_days = days(since, until)
    # Sums from the database may be Decimals; the geometry is float arithmetic.
    series = [ChartSeries(one.label, {day: float(v) for day, v in one.points.items()}) for one in series]
    values = [one.points.get(day, 0.0) for one in series for day in axis_days]
    if whole is None:
        whole = all(float(value).is_integer() for value in values)
    svgs = "".join(
        _svg(title=title, series=series, axis_days=axis_days, unit=unit, layout=layout,
             axis=nice_axis(min(values, default=0.0), max(values, default=0.0), count=layout.y_ticks, whole=whole))
        for layout in LAYOUTS
    )
    suffix = f" {escape(unit)}" if unit else ""
    totals = [sum(one.points.get(day, 0.0) for day in axis_days) for one in series]
    legend = "".join(
        f"<li>{legend_swatch(n)}{escape(one.label)}: {format_number(total)}{suffix} in {len(axis_days)} days</li>"
        for n, (one, total) in enumerate(zip(series, totals, strict=True))
    )
    # The same numbers as a table, for screen readers and anyone who wants exact values.
    head = "".join(f'<th scope="col" class="num">{escape(one.label)}</th>' for one in series)
    body = "".join(
        f'<tr><th scope="row">{day:%Y-%m-%d}</th>'
        + "".join(f'<td class="num">{format_number(one.points.get(day, 0.0))}</td>' for one in series) + "</tr>"
        for day in axis_days
    )
    table = (f'<details class="chart-data"><summary>Data for “{escape(title)}”</summary><div class="table-wrap">'
             f'<table class="compact"><thead><tr><th scope="col">Day</th>{head}</tr></thead><tbody>{body}</tbody>'
             f"</table></div></details>")
    return mark_safe(f'<figure class="chart-figure">{svgs}<ul class="legend">{legend}</ul></figure>{table}')  # noqa: S308 - built from escaped parts
