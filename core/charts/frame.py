"""What every chart shares: the palette, the two drawing sizes and the legend's swatches."""

from dataclasses import dataclass

# Colour-blind-safe palette (Okabe–Ito), each at least 3:1 against white; one colour per series.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]


@dataclass(frozen=True)
class Layout:
    """One drawing size. The SVG scales to its box, so `font` is in viewBox units: the narrow one
    keeps about 12 px text on a 390 px phone, the wide one about 13 px or more from 800 px up."""

    name: str
    width: int
    height: int
    font: int
    x_labels: int  # dates written under a line chart
    y_ticks: int  # about this many intervals on a value axis


LAYOUTS = (Layout("wide", 960, 260, 14, 7, 5), Layout("narrow", 360, 240, 14, 3, 4))


def dash(n: int) -> str:
    """Every other series dashed, so overlapping or colour-confusable lines stay apart."""
    return ' stroke-dasharray="7 4"' if n % 2 else ""


def legend_swatch(n: int, *, bar: bool = False) -> str:
    """The series' mark as the chart draws it: a dashed or solid line, or a filled bar."""
    colour = PALETTE[n % len(PALETTE)]
    mark = (f'<rect width="24" height="10" fill="{colour}"/>' if bar else
            f'<line x1="0" x2="24" y1="5" y2="5" stroke="{colour}" stroke-width="3"{dash(n)}/>')
    return f'<svg class="swatch" viewBox="0 0 24 10" width="24" height="10" aria-hidden="true">{mark}</svg>'

