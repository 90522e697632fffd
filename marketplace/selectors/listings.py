"""Reads of a vendor's own listings and versions. Everything is scoped to the organization;
what the caller may not see raises NotFound (404), never PermissionDenied."""

from django.db.models import QuerySet

from accounts.models import Organization
from core.errors import NotFound
from marketplace.models import Model, ModelVersion


def vendor_models(*, organization: Organization) -> QuerySet[Model]:
    return Model.objects.filter(organization=organization).select_related("organization")


def vendor_model_get(*, organization: Organization, slug: str) -> Model:
    model = vendor_models(organization=organization).filter(slug=slug).first()
    if model is None:
        raise NotFound(f"You have no model '{slug}'. List yours at /api/v1/vendor/models.")
    return model


def model_versions(*, model: Model) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(model=model).select_related("model__organization")


def model_version_get(*, model: Model, version: str) -> ModelVersion:
    found = model_versions(model=model).filter(version=version).first()
    if found is None:
        raise NotFound(f"Model '{model.slug}' has no version '{version}'.")
    return found
