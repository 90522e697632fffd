"""The OpenAPI description of the buyer's inference routes (/v2 and /v1), which are plain Django
views drf-spectacular cannot see, merged into /api/schema/ by `hooks.postprocess`.

A package of its own, outside the serving layers: it documents inference.serving.v2 and inference.serving.v1
(independent layers) and imports neither, so documentation never costs the hot path an import.
"""
