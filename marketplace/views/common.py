"""Small helpers shared by the page views: safe Markdown, money, plan and license summaries and
the benchmark card."""

from decimal import Decimal

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

from core.charts import BarSeries, bar_chart
from marketplace.models import License, ModelVersion, Plan

_TAGS = {"p", "a", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "h2", "h3", "h4", "br", "hr",
         "table", "thead", "tbody", "tr", "th", "td"}


def render_markdown(text: str) -> SafeString:
    """Vendor Markdown -> HTML with an allow-list of tags (nh3 drops scripts, handlers, styles)."""
    html = markdown.markdown(text or "", extensions=["tables", "fenced_code"])
    return mark_safe(nh3.clean(html, tags=_TAGS, link_rel="noopener nofollow ugc"))  # noqa: S308 - sanitised by nh3


def money(minor: int | Decimal | None, currency: str) -> str:
    value = Decimal(minor or 0) / 100
    text = f"{value:,.4f}".rstrip("0").rstrip(".") if value != value.quantize(Decimal("0.01")) else f"{value:,.2f}"
    return f"{text} {currency.upper()}"


_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def token_price(minor_per_million: Decimal | int, currency: str) -> str:
    """A per-million token price as LLM providers write it: $0.50, $0.075 (no trailing zeros past
    the cents; up to the six decimals of major units a plan holds)."""
    major = (Decimal(minor_per_million) / 100).quantize(Decimal("0.000001"))
    text = f"{major:,.6f}".rstrip("0")
    text = text + "0" * max(0, 2 - len(text.partition(".")[2]))
    symbol = _SYMBOLS.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def plan_summary(plan: Plan) -> str:
    """What a buyer reads about a plan, in one line."""
    unit = {"call": "call", "1k_units": "1,000 units", "compute_second": "compute second"}.get(plan.unit, plan.unit)
    if plan.kind == Plan.Kind.FREE:
        return f"Free: {plan.included_calls:,} calls a month"
    if plan.kind == Plan.Kind.PAYG and plan.unit == Plan.Unit.TOKENS:
        return (f"Pay as you go: {token_price(plan.input_price_per_million_minor, plan.currency)} / 1M input tokens"
                f" · {token_price(plan.output_price_per_million_minor, plan.currency)} / 1M output tokens")
    if plan.kind == Plan.Kind.PAYG:
        return f"Pay as you go: {money(plan.unit_price_minor, plan.currency)} per {unit}"
    overage = f", then {money(plan.overage_price_minor, plan.currency)} per {unit}" if plan.overage_price_minor else ""
    return (f"Subscription: {money(plan.monthly_fee_minor, plan.currency)} a month, "
            f"{plan.included_calls:,} calls included{overage}")


def units_explained(plan: Plan | None) -> str:
    """What the "units" of a usage receipt are, and whether the buyer's plan bills by them: a
    per-call plan bills 0.02 per call whatever the units, which "Units 4" alone does not say."""
    what = "1 unit = 1 tensor element sent (a token id, for a text model)"
    if plan is None:
        return what
    if plan.kind == Plan.Kind.FREE:
        return f"{what}; your free plan counts calls, not units"
    if plan.kind == Plan.Kind.SUBSCRIPTION:
        return f"{what}; your subscription counts calls, not units"
    return {
        Plan.Unit.CALL: f"{what}; your plan bills per call, not per unit",
        Plan.Unit.THOUSAND_UNITS: f"{what}; your plan bills per 1,000 units",
        Plan.Unit.COMPUTE_SECOND: f"{what}; your plan bills per second of compute, not per unit",
    }.get(plan.unit, what)


# None: a custom EULA or an unlisted SPDX id whose vendor did not say; the text is the answer.
_DERIVATIVES_ANSWER = {True: "Allowed", False: "Not allowed", None: "Not stated; the license text decides"}


def license_terms(license: License | None) -> list[tuple[str, str]]:
    """The structured terms as (term, answer) rows for a summary table."""
    if license is None:
        return []
    where = {"anywhere": "Anywhere", "allow": f"Only in {', '.join(license.territories)}",
             "deny": f"Everywhere except {', '.join(license.territories)}"}[license.territory_mode]
    rows = [
        ("License", f"{license.identifier} (revision {license.revision}, {'SPDX' if license.kind == 'spdx' else 'custom EULA'})"),
        ("Commercial use", "Allowed" if license.commercial_use else "Not allowed"),
        ("Weights downloadable", "Yes" if license.weight_download else "No"),
        ("Attribution required", "Yes" if license.attribution_required else "No"),
        ("Modified versions (derivatives)", _DERIVATIVES_ANSWER[license.derivatives_allowed]),
        ("Territory", where),
        ("Monthly call limit", f"{license.max_monthly_calls:,}" if license.max_monthly_calls else "None"),
    ]
    if license.expires_at:
        rows.append(("Expires", f"{license.expires_at:%Y-%m-%d}"))
    return rows


def benchmark_card(version: ModelVersion | None) -> dict:
    """What a tensor version's benchmark card shows: latency by batch size as bars (p50 and p95,
    one colour each) and a heading naming the batch sizes that were measured. A fixed-shape model
    runs only at the batch its inputs declare, so its card says that instead of "1 and 8"."""
    batches = ((version.benchmark if version else None) or {}).get("batches") or {}
    ordered = sorted(batches.items(), key=lambda item: int(item[0]) if str(item[0]).isdigit() else 0)
    sizes = [str(batch) for batch, _ in ordered]
    fixed = bool(version and (version.signature or {}).get("batched") is False)
    if not sizes:
        title = "Benchmark"
    elif fixed:
        title = f"Benchmark: latency at its fixed batch of {sizes[0]}"
    else:
        title = "Benchmark: latency at batch " + (" and ".join([", ".join(sizes[:-1]), sizes[-1]]) if len(sizes) > 1 else sizes[0])

    def figure(figures: dict | None, key: str) -> float | None:
        value = (figures or {}).get(key)
        return None if value is None else float(value)

    chart = bar_chart(title="Latency by batch size (milliseconds)", categories=[f"batch {b}" for b in sizes], series=[
        BarSeries(label, [figure(figures, key) for _, figures in ordered])
        for key, label in (("p50_ms", "p50 (median)"), ("p95_ms", "p95"))])
    return {"title": title, "fixed_shape": fixed, "batches": ordered, "chart": chart}
