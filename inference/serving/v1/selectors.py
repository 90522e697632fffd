"""Which language models a key's organization may call: what GET /v1/models lists.

The catalog's public, published language models, the organization's own, and private ones it
holds an active entitlement to; each with its latest ready version, and its int4 variant listed
as a model id of its own (`vendor.model:int4`) when the vendor built one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from accounts.models import Organization
from marketplace.models import Entitlement, Model, ModelVersion


@dataclass(frozen=True)
class LanguageModel:
    id: str
    created: int
    owned_by: str
    version: str
    context_length: int


def language_models(*, organization: Organization) -> list[LanguageModel]:
    entitled = Entitlement.objects.filter(organization=organization, status=Entitlement.Status.ACTIVE) \
        .values("model_id")
    visible = Model.objects.filter(
        Q(visibility=Model.Visibility.PUBLIC, status=Model.Status.PUBLISHED)
        | Q(organization=organization) | Q(pk__in=entitled)
    ).exclude(Q(status=Model.Status.SUSPENDED) & ~Q(organization=organization))
    ready = (ModelVersion.objects.filter(model__in=visible, status=ModelVersion.Status.READY, kind="llm")
             .select_related("model__organization").order_by("model_id", "-ready_at", "-created_at"))
    latest: dict[int, ModelVersion] = {}
    for version in ready:
        latest.setdefault(version.model_id, version)
    found = []
    for version in sorted(latest.values(), key=lambda v: v.model.full_name):
        name = version.model.full_name
        created = int((version.ready_at or version.created_at).timestamp())
        context = int((version.signature or {}).get("context_length") or 0)
        variants = [name] + ([f"{name}:int4"] if version.int4_artifact else [])
        found += [LanguageModel(id=v, created=created, owned_by=version.model.organization.slug,
                                version=version.version, context_length=context) for v in variants]
    return found
