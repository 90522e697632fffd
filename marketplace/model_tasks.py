"""The fixed list of tasks a listing names (issue #16 item 4): the vendor form's select, the
vendor API's validation and the catalog's task filter all read it, so a buyer filtering by
"text-classification" finds every such model instead of missing one typed "text classifier".

Ids follow the Hugging Face pipeline names where one exists."""

from __future__ import annotations

TASKS: tuple[tuple[str, str], ...] = (
    ("text-generation", "Text generation (language model)"),
    ("text-classification", "Text classification"),
    ("token-classification", "Token classification (named entities)"),
    ("question-answering", "Question answering"),
    ("summarization", "Summarization"),
    ("translation", "Translation"),
    ("fill-mask", "Fill mask"),
    ("feature-extraction", "Feature extraction (embeddings)"),
    ("sentence-similarity", "Sentence similarity"),
    ("zero-shot-classification", "Zero-shot classification"),
    ("image-classification", "Image classification"),
    ("object-detection", "Object detection"),
    ("image-segmentation", "Image segmentation"),
    ("image-to-text", "Image to text"),
    ("automatic-speech-recognition", "Speech recognition"),
    ("audio-classification", "Audio classification"),
    ("tabular-classification", "Tabular classification"),
    ("tabular-regression", "Tabular regression"),
    ("regression", "Regression"),
    ("time-series-forecasting", "Time-series forecasting"),
    ("anomaly-detection", "Anomaly detection"),
    ("recommendation", "Recommendation"),
    ("other", "Other"),
)
TASK_IDS = frozenset(task for task, _ in TASKS)
_LABELS = dict(TASKS)


def task_label(task: str) -> str:
    """What pages show for a task id; a task saved before the list existed shows as it was typed."""
    return _LABELS.get(task, task)
