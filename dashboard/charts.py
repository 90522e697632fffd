"""Server-rendered SVG charts: no JavaScript, no vendored library, readable in screenshots.

`line_chart` draws one or more daily series on shared axes. Every label goes through
django.utils.html.escape; numbers are formatted here, so the SVG carries no user markup.
Other pages (vendor earnings, buyer usage) can call it with their own series.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colour-blind-safe palette (Okabe–Ito), each at least 3:1 against white.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
WIDTH, HEIGHT = 960, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 28


@dataclass(frozen=True)
class ChartSeries:
    label: str
    points: dict[date, float]


def days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=i) for i in range((until - since).days + 1)]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}".rstrip("0")


def line_chart(*, title: str, series: list[ChartSeries], since: date, until: date) -> SafeString:
    axis = days(since, until)
    top = _nice_max(max((v for s in series for v in s.points.values()), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / max(len(axis) - 1, 1))

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>'
    ]
    for fraction in (0, 0.5, 1):
        gy = y(top * fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">{_fmt(top * fraction)}</text>')
    last = len(axis) - 1
    for i in sorted({0, last // 2, last}):
        anchor = "start" if i == 0 else "end" if i == last else "middle"
        parts.append(
            f'<text class="tick" x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{axis[i]:%b %-d}</text>'
        )
    for n, one in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        coords = " ".join(f"{x(i):.1f},{y(one.points.get(day, 0.0)):.1f}" for i, day in enumerate(axis))
        # Dashes as well as colours, so overlapping or colour-confusable lines stay apart.
        dash = ' stroke-dasharray="7 4"' if n % 2 else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5"{dash} points="{coords}"/>')
        parts.append(
            f'<circle cx="{x(last):.1f}" cy="{y(one.points.get(axis[last], 0.0)):.1f}" r="3.5" fill="{colour}"/>'
        )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[n % len(PALETTE)]}"></span>'
        f"{escape(one.label)}: {_fmt(sum(one.points.get(day, 0.0) for day in axis))} in {len(axis)} days</li>"
        for n, one in enumerate(series)
    )
    # The same numbers as a table, for screen readers and anyone who wants exact values.
    head = "".join(f"<th scope=\"col\">{escape(one.label)}</th>" for one in series)
    body = "".join(
        f"<tr><th scope=\"row\">{day:%Y-%m-%d}</th>"
        + "".join(f"<td>{_fmt(one.points.get(day, 0.0))}</td>" for one in series) + "</tr>"
        for day in axis
    )
    table = (
        f'<details class="chart-data"><summary>Data for “{escape(title)}”</summary>'
        f'<table><thead><tr><th scope="col">Day</th>{head}</tr></thead><tbody>{body}</tbody></table></details>'
    )
    return mark_safe(f'{"".join(parts)}<ul class="legend">{legend}</ul>{table}')  # noqa: S308 - built from escaped parts
