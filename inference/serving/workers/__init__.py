"""What runs in an infer.* worker: the threads (worker.py) and their shared state, the Celery
tasks, language-model generation, isolated runs and the quarantine of versions that crash it."""
