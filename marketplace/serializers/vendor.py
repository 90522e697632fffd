"""Vendor API shapes. Input serializers list only what a vendor may set (organization, status,
owner and the like are not fields here, so they are ignored); no business rules here."""

from rest_framework import serializers

from marketplace.model_tasks import TASKS
from marketplace.models import Model, ModelVersion
from marketplace.services.versions import STAGES


class ModelIn(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    slug = serializers.SlugField(max_length=60, required=False,
                                 help_text="left out: made from the name (\"Two Layer\" -> two-layer)")
    task = serializers.CharField(max_length=60, required=False, allow_blank=True,
                                 help_text=f"one of: {', '.join(task for task, _ in TASKS)}")
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, required=False)
    visibility = serializers.ChoiceField(choices=Model.Visibility.choices, required=False)


class ModelOut(serializers.ModelSerializer):
    class Meta:
        model = Model
        fields = ["slug", "name", "full_name", "task", "description", "tags", "visibility", "status",
                  "created_at", "updated_at"]  # fmt: skip


class VersionUploadIn(serializers.Serializer):
    file = serializers.FileField()
    version = serializers.CharField(max_length=40, required=False)
    example_inputs = serializers.JSONField(required=False)


class VersionOut(serializers.ModelSerializer):
    stages = serializers.SerializerMethodField()
    failure = serializers.SerializerMethodField()
    int8 = serializers.SerializerMethodField()
    int4 = serializers.SerializerMethodField()
    model = serializers.CharField(source="model.slug")

    class Meta:
        model = ModelVersion
        fields = ["model", "version", "kind", "status", "stages", "failure", "source_format", "source_filename",
                  "source_sha256", "source_size", "onnx_sha256", "onnx_size", "int8", "int4", "signature", "opset",
                  "parity", "optimization", "benchmark", "hardware_class", "attempts", "created_at",
                  "ready_at"]  # fmt: skip

    def get_stages(self, obj: ModelVersion) -> list[dict]:
        stages = obj.stages or {}
        return [{"name": name, **stages.get(name, {"state": "pending"})} for name in STAGES]

    def get_failure(self, obj: ModelVersion) -> dict | None:
        if obj.status != ModelVersion.Status.FAILED:
            return None
        failure = obj.failure or {}
        return {k: failure.get(k) for k in ("stage", "code", "reason", "hint")}

    def get_int8(self, obj: ModelVersion) -> dict | None:
        """Offered as an option with its accuracy delta; never substituted for the fp32 model."""
        int8 = (obj.optimization or {}).get("int8")
        return {**int8, "sha256": obj.int8_sha256} if int8 else None

    def get_int4(self, obj: ModelVersion) -> dict | None:
        """A language model's int4 variant: offered with its token agreement, never substituted."""
        if not obj.int4_sha256:
            return None
        return {"sha256": obj.int4_sha256, "size": obj.int4_size, "agreement": (obj.parity or {}).get("int4")}
