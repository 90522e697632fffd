"""bench/generation.py's setup: the bench LLM published as the conversion pipeline publishes one,
the bench buyer subscribed to its token plan, and the prompts every variant sends."""

from __future__ import annotations

import random
from pathlib import Path

STREAMS = (1, 4, 16)
PROMPT_TOKENS = 128
PROBE_TOKENS = 4  # the TTFT probes' max_tokens: their first token is what they measure
NAME = "bench-vendor.chat"
_WORDS = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "zu", "er", "an", "in", "on", "el"]


def publish(folder: Path) -> tuple[object, list[list[int]], list[str]]:
    """The LLM published as tests/llm_serving.published_llm publishes one (built from `folder`),
    the bench buyer subscribed to its token plan; returns the version, prompt ids and texts."""
    from accounts.models import Organization, User
    from inference.serving.v1.params import parse
    from inference.serving.v1.prompting import prompt_ids
    from marketplace.models import ModelVersion, Plan
    from marketplace.services.entitlements import entitlement_subscribe
    from tests import llm_serving

    llm_serving._FOLDERS[("llama", "fp32")] = folder  # its builder's cache: publish this folder, not the tiny one
    model = llm_serving.published_llm(Organization.objects.get(slug="bench-vendor"), "chat")
    entitlement_subscribe(organization=Organization.objects.get(slug="bench-buyer"),
                          user=User.objects.get(email="bench@example.com"), model=model,
                          plan_id=Plan.objects.get(model=model).pk, declared_use="commercial", territory="DE")
    version = ModelVersion.objects.get(model=model)
    rng = random.Random(13)
    ids, texts = [], []
    for _ in range(max(STREAMS)):  # distinct prompts, each grown to about PROMPT_TOKENS with the template
        words: list[str] = []
        while True:
            words.append("".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4))))
            text = " ".join(words)
            params = parse({"model": NAME, "messages": [{"role": "user", "content": text}]}, kind="chat")
            tokens = prompt_ids(version=version, params=params)
            if len(tokens) >= PROMPT_TOKENS:
                break
        ids.append(tokens)
        texts.append(text)
    return version, ids, texts
