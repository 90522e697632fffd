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

__all__ = ["Model", "ModelVersion"]
