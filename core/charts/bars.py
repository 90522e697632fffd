"""Grouped horizontal bars as inline SVG: one colour per series (p50, p95...) with a legend, a
value axis with round ticks from zero, and each figure written at the end of its bar.

Drawn wide and narrow like the line charts; the narrow drawing puts each group's name above its
bars, so a phone has the whole width for bars and readable labels.
"""

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from core.charts.frame import LAYOUTS, PALETTE, Layout, legend_swatch
from core.charts.ticks import format_number, nice_axis

BAR, GAP, GROUP_GAP = 20, 4, 14


@dataclass(frozen=True)
class BarSeries:
    label: str
    values: list[float | None]  # one per category; None draws no bar


def _text_width(text: str, font: int) -> float:
    return len(text) * font * 0.6


def _svg(*, title: str, categories: list[str], series: list[BarSeries], unit: str, layout: Layout) -> str:
    font, width = layout.font, layout.width
    values = [v for one in series for v in one.values if v is not None]
    axis = nice_axis(0.0, max(values, default=0.0), count=layout.y_ticks)
    ends = [f"{format_number(v)} {unit}".strip() for v in values] or [""]
    stacked = layout.name == "narrow"  # group names above their bars
    left = 4 if stacked else max(_text_width(c, font) for c in categories) + 16
    right = max(_text_width(e, font) for e in ends) + 14
    plot_w = width - left - right
    name_h = font + 8 if stacked else 0
    group_h = name_h + len(series) * (BAR + GAP) - GAP
    height = 6 + len(categories) * (group_h + GROUP_GAP) + font + 10

    def x(value: float) -> float:
        return left + plot_w * value / axis.high

    axis_y = height - font - 10
    parts = [f'<svg class="chart bars {layout.name}" viewBox="0 0 {width} {height:.0f}" role="img">'
             f"<title>{escape(title)}</title>"]
    for tick in axis.ticks:
        gx = x(float(tick))
        parts.append(f'<line class="grid" x1="{gx:.1f}" x2="{gx:.1f}" y1="4" y2="{axis_y:.1f}"/>'
                     f'<text class="tick x" x="{gx:.1f}" y="{height - 6:.0f}" font-size="{font}" '
                     f'text-anchor="middle">{axis.label(tick)}</text>')
    for g, category in enumerate(categories):
        top = 6 + g * (group_h + GROUP_GAP)
        if stacked:
            parts.append(f'<text class="tick category" x="{left}" y="{top + font}" font-size="{font}" '
                         f'font-weight="600">{escape(category)}</text>')
        else:
            middle = top + group_h / 2 + font * 0.35
            parts.append(f'<text class="tick category" x="{left - 8:.1f}" y="{middle:.1f}" font-size="{font}" '
                         f'text-anchor="end">{escape(category)}</text>')
        for n, one in enumerate(series):
            value = one.values[g] if g < len(one.values) else None
            if value is None:
                continue
            bar_y = top + name_h + n * (BAR + GAP)
            w = max(x(value) - left, 2)
            parts.append(f'<rect class="bar" data-series="{escape(one.label)}" x="{left}" y="{bar_y}" '
                         f'width="{w:.1f}" height="{BAR}" fill="{PALETTE[n % len(PALETTE)]}"/>'
                         f'<text class="tick value" x="{left + w + 6:.1f}" y="{bar_y + BAR / 2 + font * 0.35:.1f}" '
                         f'font-size="{font}">{escape(format_number(value))} {escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(*, title: str, categories: list[str], series: list[BarSeries], unit: str = "ms") -> SafeString:
    """Empty when there is nothing to draw, so a template can `{% if chart %}` it."""
    if not categories or not any(v is not None for one in series for v in one.values):
        return mark_safe("")
    svgs = "".join(_svg(title=title, categories=categories, series=series, unit=unit, layout=layout)
                   for layout in LAYOUTS)
    legend = "".join(f"<li>{legend_swatch(n, bar=True)}{escape(one.label)}</li>" for n, one in enumerate(series))
    return mark_safe(f'<figure class="chart-figure">{svgs}<ul class="legend">{legend}</ul></figure>')  # noqa: S308 - escaped parts
