"""What a listing still needs before it can be published: the checklist the vendor page shows
above Publish and the check model_publish makes, from one place so both always agree."""

from dataclasses import dataclass

from marketplace.models import License, Model, ModelVersion, Plan


@dataclass(frozen=True)
class ChecklistItem:
    key: str  # version, license, plan
    label: str  # what the vendor page shows
    done: bool
    missing: str  # how the publish refusal names it, with what to do


def publish_checklist(*, model: Model) -> list[ChecklistItem]:
    return [
        ChecklistItem("version", "A ready version (uploaded and through the pipeline)",
                      ModelVersion.objects.filter(model=model, status=ModelVersion.Status.READY).exists(),
                      "a ready version (upload one and wait for the pipeline)"),
        ChecklistItem("license", "A license buyers accept",
                      License.objects.filter(model=model, is_current=True).exists(),
                      "a license (POST .../license)"),
        ChecklistItem("plan", "At least one plan on offer",
                      Plan.objects.filter(model=model, is_active=True).exists(),
                      "an active plan (POST .../plans)"),
    ]
