"""Server-rendered SVG charts: no JavaScript, no vendored library, readable in screenshots and on
a phone. Every label goes through django.utils.html.escape and numbers are formatted here, so the
SVG carries no user markup. The pages call `line_chart` (usage, earnings, the staff dashboard) and
`bar_chart` (benchmark figures)."""

from core.charts.bars import BarSeries, bar_chart
from core.charts.line import ChartSeries, days, line_chart
from core.charts.ticks import Axis, format_number, nice_axis

__all__ = ["Axis", "BarSeries", "ChartSeries", "bar_chart", "days", "format_number", "line_chart", "nice_axis"]
