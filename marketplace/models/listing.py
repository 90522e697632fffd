"""A vendor's listing (`Model`) and its immutable-once-ready versions (`ModelVersion`)."""

from django.db import models

from accounts.models import Organization
from marketplace.model_tasks import task_label


class Model(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private"
        PUBLIC = "public"

    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"
        SUSPENDED = "suspended"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="models")
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=150)
    task = models.CharField(max_length=60, blank=True, help_text="e.g. text-classification, feature-extraction")
    description = models.TextField(blank=True, help_text="Markdown")
    tags = models.JSONField(default=list, blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    suspended_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="model_slug_per_vendor")]
        ordering = ["organization_id", "slug"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        """The public name in the inference API: `{vendor-slug}.{model-slug}`."""
        return f"{self.organization.slug}.{self.slug}"

    @property
    def task_label(self) -> str:
        """The task as people read it ("Text classification"); `task` stays the id in URLs and the API."""
        return task_label(self.task)


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received"
        SCANNING = "scanning"
        CONVERTING = "converting"
        VALIDATING = "validating"
        OPTIMIZING = "optimizing"
        BENCHMARKING = "benchmarking"
        READY = "ready"
        FAILED = "failed"
        QUARANTINED = "quarantined"

    PIPELINE = [
        Status.RECEIVED, Status.SCANNING, Status.CONVERTING, Status.VALIDATING,
        Status.OPTIMIZING, Status.BENCHMARKING, Status.READY,
    ]

    class HardwareClass(models.TextChoices):
        CPU = "cpu"
        GPU = "gpu"

    class Kind(models.TextChoices):
        TENSOR = "tensor", "tensor in, tensor out"  # the KServe v2 path
        LLM = "llm", "language model"  # built with ONNX Runtime GenAI; contract: inference/conversion/llm_stages.py

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=40, help_text="semantic version, e.g. 1.0.0")
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TENSOR)
    # {"scanning": {"state": "done", "started_at": ..., "finished_at": ..., "detail": {...}}, ...}
    stages = models.JSONField(default=dict, blank=True)
    # {"stage": "converting", "reason": "...", "hint": "what to do"} when status is failed
    failure = models.JSONField(default=dict, blank=True)
    source_format = models.CharField(max_length=20, blank=True)
    source_filename = models.CharField(max_length=255, blank=True)
    source_artifact = models.CharField(max_length=255, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    source_size = models.BigIntegerField(default=0)
    example_inputs_artifact = models.CharField(max_length=255, blank=True)
    onnx_artifact = models.CharField(max_length=255, blank=True)
    onnx_sha256 = models.CharField(max_length=64, blank=True)
    onnx_size = models.BigIntegerField(default=0)
    int8_artifact = models.CharField(max_length=255, blank=True)
    int8_sha256 = models.CharField(max_length=64, blank=True)
    # a language model's int4 GenAI folder (one zip), offered beside the fp32 one, never substituted
    int4_artifact = models.CharField(max_length=255, blank=True)
    int4_sha256 = models.CharField(max_length=64, blank=True)
    int4_size = models.BigIntegerField(default=0)
    # the Hugging Face tokenizer.json shipped in an HF upload, checked in the sandbox
    tokenizer_artifact = models.CharField(max_length=255, blank=True)
    # {"inputs": [{"name", "datatype", "shape"}], "outputs": [...]} with KServe v2 datatypes
    signature = models.JSONField(default=dict, blank=True)
    opset = models.PositiveIntegerField(null=True, blank=True)
    parity = models.JSONField(default=dict, blank=True)
    optimization = models.JSONField(default=dict, blank=True)
    benchmark = models.JSONField(default=dict, blank=True)
    hardware_class = models.CharField(max_length=3, choices=HardwareClass.choices, default=HardwareClass.CPU)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="pipeline deliveries, for the retry cap")
    crash_count = models.PositiveSmallIntegerField(default=0, help_text="runtime crashes while serving")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="when the current stage was claimed")
    # Who holds the current stage (random per claim; empty = unclaimed). The holder heartbeats
    # claimed_at; a claim older than the lease is taken over by a redelivered task.
    claim_token = models.CharField(max_length=32, blank=True, default="")
    # Pipeline scratch between stages (scan summary, converted-bundle artifact name).
    pipeline_state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="version_unique_per_model")]
        ordering = ["model_id", "-created_at"]

    def __str__(self) -> str:
        return f"{self.model_id}:{self.version} ({self.status})"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY
