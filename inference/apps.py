from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Celery's autodiscovery looks for `inference.tasks`; ours live in packages.
        from inference.conversion import tasks  # noqa: F401  (conversion pipeline)
        from inference.serving.predictions import webhooks  # noqa: F401  (serving: async prediction webhooks)
        from inference.serving.workers import tasks as serving_tasks  # noqa: F401
        from inference.serving.workers import worker  # noqa: F401  (starts the lanes in an infer.* worker)
