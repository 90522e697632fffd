"""Reads of a vendor's multipart upload sessions; another organization's session is a 404."""

from uuid import UUID

from accounts.models import Organization
from core.errors import NotFound
from marketplace.models import UploadSession


def upload_session_get(*, organization: Organization, session_id: UUID) -> UploadSession:
    found = (UploadSession.objects.filter(organization=organization, pk=session_id)
             .select_related("model", "organization").first())  # fmt: skip
    if found is None:
        raise NotFound(f"You have no upload {session_id}.")
    return found
