"""The public catalog: published, public models with at least one ready version, never private,
draft or suspended ones. Every read here starts from `catalog_models()`."""

from django.db.models import Case, Exists, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, When

from core.errors import NotFound
from marketplace.models import License, Model, ModelVersion, Plan

ORDERINGS = {"name": "name", "-name": "-name", "newest": "-created_at", "price": "min_price",
             "-price": "-min_price", "latency": "latency"}


def catalog_models() -> QuerySet[Model]:
    ready = ModelVersion.objects.filter(model=OuterRef("pk"), status=ModelVersion.Status.READY)
    price = Case(
        When(plans__kind=Plan.Kind.FREE, then=0),
        # Per-token prices are not comparable with per-call ones: a token plan sets no minimum.
        When(plans__kind=Plan.Kind.PAYG, plans__unit=Plan.Unit.TOKENS, then=None),
        When(plans__kind=Plan.Kind.PAYG, then="plans__unit_price_minor"),
        When(plans__kind=Plan.Kind.SUBSCRIPTION, then="plans__monthly_fee_minor"),
        output_field=IntegerField(),
    )
    return (
        Model.objects.filter(visibility=Model.Visibility.PUBLIC, status=Model.Status.PUBLISHED)
        .filter(Exists(ready))
        .annotate(min_price=Min(price, filter=Q(plans__is_active=True)))
        # What the catalog serves is the latest ready version: its kind says which API calls it.
        .annotate(version_kind=Subquery(ready.order_by("-ready_at", "-created_at").values("kind")[:1]))
        .select_related("organization")
    )


def version_latency_ms(version: ModelVersion | None) -> float | None:
    """p50 at batch 1 from the pipeline's benchmark report ({"batches": {"1": {"p50_ms": ...}}})."""
    batches = ((version.benchmark if version else None) or {}).get("batches") or {}
    first = batches.get("1") or next(iter(batches.values()), None)
    return first.get("p50_ms") if isinstance(first, dict) else None


def latest_ready_version(model: Model) -> ModelVersion | None:
    return (ModelVersion.objects.filter(model=model, status=ModelVersion.Status.READY)
            .order_by("-ready_at", "-created_at").first())


def catalog_search(
    *, q: str = "", task: str = "", tag: str = "", license_kind: str = "", commercial: bool | None = None,
    price_max: int | None = None, latency_max_ms: float | None = None, ordering: str = "name", kind: str = "",
) -> list[Model] | QuerySet[Model]:
    models = catalog_models()
    if kind:
        models = models.filter(version_kind=kind)
    if q:
        models = models.filter(Q(name__icontains=q) | Q(description__icontains=q) | Q(slug__icontains=q))
    if task:
        models = models.filter(task=task)
    if tag:
        # JSON containment is not portable to SQLite; tags are few, so match them in the query text.
        models = models.filter(tags__icontains=f'"{tag}"')
    current = License.objects.filter(model=OuterRef("pk"), is_current=True)
    if license_kind:
        models = models.filter(Exists(current.filter(kind=license_kind)))
    if commercial is not None:
        models = models.filter(Exists(current.filter(commercial_use=commercial)))
    if price_max is not None:
        models = models.filter(min_price__lte=price_max)
    order = ORDERINGS.get(ordering, "name")
    if latency_max_ms is None and order != "latency":
        return models.order_by(order, "pk")
    # Latency lives in each version's benchmark report; filter and sort in Python.
    rows = [(m, version_latency_ms(latest_ready_version(m))) for m in models.order_by("name", "pk")]
    if latency_max_ms is not None:
        rows = [(m, ms) for m, ms in rows if ms is not None and ms <= latency_max_ms]
    if order == "latency":
        rows.sort(key=lambda r: (r[1] is None, r[1] or 0))
    return [m for m, _ in rows]


def catalog_model_get(*, vendor: str, slug: str) -> Model:
    model = catalog_models().filter(organization__slug=vendor, slug=slug).first()
    if model is None:
        raise NotFound(f"No published model '{vendor}.{slug}' in the catalog.")
    return model


def catalog_versions(*, model: Model) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(model=model, status=ModelVersion.Status.READY).select_related(
        "license_link__license").order_by("-ready_at", "-created_at")


def catalog_license(*, model: Model) -> License | None:
    return License.objects.filter(model=model, is_current=True).first()


def catalog_plans(*, model: Model) -> QuerySet[Plan]:
    return Plan.objects.filter(model=model, is_active=True).order_by("id")
