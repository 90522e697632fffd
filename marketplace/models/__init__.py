from marketplace.models.listing import Model, ModelVersion

__all__ = ["Model", "ModelVersion"]
