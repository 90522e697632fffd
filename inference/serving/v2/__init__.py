"""The Open Inference Protocol (KServe v2) under /v2, and /api/v1/tokenize for its token inputs."""
