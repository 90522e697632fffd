from django.urls import path

from inference.serving.predictions import views as predictions
from inference.serving.v1 import views as openai_api
from inference.serving.v2 import oip, tokenize

# Mounted at the root: the Open Inference Protocol fixes the /v2/ paths. Infer first: the hot path.
urlpatterns = [
    path("v2/models/<str:name>/infer", oip.infer, name="oip-infer"),
    path("v2/models/<str:name>/versions/<str:version>/infer", oip.infer, name="oip-infer-version"),
    path("v2/health/live", oip.health_live, name="oip-live"),
    path("v2/health/ready", oip.health_ready, name="oip-ready"),
    path("v2", oip.server_metadata, name="oip-server"),
    path("v2/models/<str:name>/config", oip.model_config, name="oip-model-config"),
    path("v2/models/<str:name>/versions/<str:version>/config", oip.model_config, name="oip-model-version-config"),
    path("v2/models/<str:name>", oip.model_metadata, name="oip-model"),
    path("v2/models/<str:name>/versions/<str:version>", oip.model_metadata, name="oip-model-version"),
    path("v2/models/<str:name>/ready", oip.model_ready, name="oip-model-ready"),
    path("v2/models/<str:name>/versions/<str:version>/ready", oip.model_ready, name="oip-model-version-ready"),
    # The OpenAI-compatible API for language models (inference/serving/v1).
    path("v1/chat/completions", openai_api.chat_completions, name="openai-chat-completions"),
    path("v1/completions", openai_api.completions, name="openai-completions"),
    path("v1/models", openai_api.models, name="openai-models"),
    path("v1/models/<str:model_id>", openai_api.model_detail, name="openai-model"),
    path("api/v1/tokenize", tokenize.TokenizeApi.as_view(), name="tokenize"),
    path("api/v1/predictions", predictions.PredictionCreateApi.as_view(), name="prediction-create"),
    path("api/v1/predictions/webhook-secret", predictions.WebhookSecretApi.as_view(), name="prediction-webhook-secret"),
    path("api/v1/predictions/<str:prediction_id>", predictions.PredictionDetailApi.as_view(), name="prediction-detail"),
]
