"""The OpenAI-compatible API for language models under /v1 (chat completions, completions, models)."""
