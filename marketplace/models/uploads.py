"""Resumable multipart uploads of a version: a session declares the files (size, SHA-256), parts
arrive in any order, and completing assembles them into the one source the pipeline takes.

Only part bookkeeping lives here; the bytes sit in the part store (marketplace/upload_store.py).
"""

import uuid

from django.db import models

from accounts.models import Organization
from marketplace.models.listing import Model


class UploadSession(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETED = "completed"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="upload_sessions")
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="upload_sessions")
    version = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    part_size = models.BigIntegerField()
    # [{"path", "size", "sha256"}] in the order declared; a part is addressed by the file's index.
    files = models.JSONField()
    total_size = models.BigIntegerField()
    example_inputs = models.JSONField(null=True, blank=True)
    # What the part store keeps per file (e.g. the S3 multipart upload id), by file index.
    store_state = models.JSONField(default=dict, blank=True)
    # Set while one request assembles the parts: a second `complete` or a late part is refused.
    completing_at = models.DateTimeField(null=True, blank=True)
    # Why `complete` refused the files ({"status", "code", "message", "details"}); the session is
    # then cancelled, and a client that lost that answer gets the same one when it asks again.
    refusal = models.JSONField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], condition=models.Q(status="open"),
                                    name="one_open_upload_per_version"),
        ]  # fmt: skip
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"upload {self.id} of {self.model_id}:{self.version} ({self.status})"


class UploadPart(models.Model):
    session = models.ForeignKey(UploadSession, on_delete=models.CASCADE, related_name="parts")
    file_index = models.PositiveIntegerField()
    number = models.PositiveIntegerField(help_text="0-based")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # What the store needs to assemble it (an S3 part's ETag); empty on local disk.
    etag = models.CharField(max_length=200, blank=True)
    stored_size = models.BigIntegerField(help_text="bytes at rest (sealed)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "file_index", "number"], name="upload_part_unique"),
        ]
        ordering = ["file_index", "number"]

    def __str__(self) -> str:
        return f"part {self.file_index}/{self.number} of {self.session_id}"
