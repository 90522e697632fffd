"""Async predictions under /api/v1/predictions (views.py, services.py) and their signed webhooks
(webhooks.py)."""
