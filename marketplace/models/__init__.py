from marketplace.models.crypto import OrganizationDataKey  # noqa: F401
from marketplace.models.licensing import (  # noqa: F401
    Download,
    Entitlement,
    License,
    LicenseAcceptance,
    Plan,
    VersionLicense,
)
from marketplace.models.listing import Model, ModelVersion
from marketplace.models.uploads import UploadPart, UploadSession  # noqa: F401

__all__ = ["Model", "ModelVersion"]
