"""Per-organization data keys for artifact encryption at rest.

The key itself is random; only its wrapped form (AES key wrap under the master key) is stored.
Wrapping lives in `marketplace.artifacts` so a KMS can replace the master key in one place.
"""

from django.db import models

from accounts.models import Organization


class OrganizationDataKey(models.Model):
    organization = models.OneToOneField(Organization, on_delete=models.PROTECT, related_name="data_key")
    wrapped_key = models.BinaryField()
    # Which master key wrapped it ("local" today; a KMS key id later), for rotation.
    wrapping_key_id = models.CharField(max_length=100, default="local")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"data key of org {self.organization_id}"
