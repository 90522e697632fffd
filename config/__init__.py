# Loading the Celery app with Django makes @shared_task bind to it (cookiecutter-django layout).
from .celery_app import app as celery_app

__all__ = ("celery_app",)
