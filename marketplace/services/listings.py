"""Writes on a vendor's listings. Only the fields a vendor may set are accepted here."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import Organization
from core.errors import Conflict, InvalidInput
from marketplace.model_tasks import TASK_IDS, TASKS
from marketplace.models import Model

VENDOR_FIELDS = frozenset({"name", "slug", "task", "description", "tags", "visibility"})


def _clean(fields: dict[str, Any], *, current_task: str = "") -> dict[str, Any]:
    unknown = set(fields) - VENDOR_FIELDS
    if unknown:
        raise InvalidInput(
            f"These fields cannot be set by a vendor: {', '.join(sorted(unknown))}.",
            details={"refused_fields": sorted(unknown), "allowed_fields": sorted(VENDOR_FIELDS)},
        )
    task = fields.get("task") or ""
    # A listing saved before the list existed keeps its task until the vendor picks another.
    if task and task not in TASK_IDS and task != current_task:
        raise InvalidInput(f"Unknown task '{task}'; pick one of the listed tasks (or 'other').",
                           details={"allowed_tasks": [t for t, _ in TASKS]})
    return fields


def slug_from_name(name: str) -> str:
    """The slug a listing gets when none is given: "Two Layer Regressor" -> "two-layer-regressor"."""
    return slugify(name)[:60].strip("-")


@transaction.atomic
def model_create(*, organization: Organization, **fields: Any) -> Model:
    fields = _clean(fields)
    if not fields.get("slug"):
        fields["slug"] = slug_from_name(fields.get("name") or "")
        if not fields["slug"]:
            raise InvalidInput("Give the model a slug (lowercase letters, digits and -): its name has none to use.")
    if Model.objects.filter(organization=organization, slug=fields.get("slug")).exists():
        raise Conflict(f"You already have a model with slug '{fields.get('slug')}'; pick another slug.")
    try:
        with transaction.atomic():
            return Model.objects.create(organization=organization, **fields)
    except IntegrityError as exc:
        raise Conflict(f"You already have a model with slug '{fields.get('slug')}'; pick another slug.") from exc


@transaction.atomic
def model_update(*, model: Model, **fields: Any) -> Model:
    fields = _clean(fields, current_task=model.task)
    new_slug = fields.get("slug")
    if new_slug and new_slug != model.slug and Model.objects.filter(
        organization_id=model.organization_id, slug=new_slug
    ).exists():
        raise Conflict(f"You already have a model with slug '{new_slug}'; pick another slug.")
    for name, value in fields.items():
        setattr(model, name, value)
    model.save(update_fields=[*fields, "updated_at"])
    return model
