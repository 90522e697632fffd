"""The gateway steps of a language-model call: the v2 path's, plus what tokens need.

    authenticate key (scope `inference`)           -> 401 / 403 / 429 (refused keys from one address)
    resolve `vendor.model[@version][:int4]`         -> 404 for what the caller may not see; 400 not an LLM
    entitlement, per-second rate limits            -> 403 / 429 (inference.serving.gateway.admit)
    logit_bias ids, prompt ids (template, tokenizer) -> 400 naming the parameter
    context length: prompt, max_tokens             -> 400 (OpenAI's context_length_exceeded)
    requests and tokens per minute, per key        -> 429 with Retry-After and RateLimit headers
    reserve prompt + max_tokens at the plan's prices -> 402 spend cap / 429 quota; nothing generated
    queue on the generation lane; stream tokens back
    settle: usage for the tokens actually produced, the rest of the reservation released

`Call` carries one admitted request through generation to its single usage event (streaming.py
reads its events; `Call.settle` is the one place that bills).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import redis
from django.conf import settings

from accounts.models import ApiKey
from billing.services.metering import Reservation, usage_commit, usage_release, usage_reserve
from core.errors import ApplicationError
from core.redis import get_redis
from inference.serving import gateway
from inference.serving.v1 import lane
from inference.serving.v1.errors import OpenAIError
from inference.serving.v1.params import GenerationParams
from inference.serving.v1.prompting import prompt_ids
from marketplace.models import Model, ModelVersion

log = logging.getLogger(__name__)
VARIANTS = ("fp32", "int4")


@dataclass
class Call:
    request_id: str
    params: GenerationParams
    model: Model
    version: ModelVersion
    variant: str
    name: str  # what the buyer asked for, echoed as `model`
    prompt_tokens: int
    max_tokens: int
    reservation: Reservation | None
    api_key: ApiKey
    rate_headers: dict[str, str] = field(default_factory=dict)
    tpm_key: str = ""  # the minute this call's tokens were counted in
    started: float = field(default_factory=time.perf_counter)
    created: int = field(default_factory=lambda: int(time.time()))
    settled: bool = False
    amount_minor: Decimal = Decimal(0)
    currency: str = "usd"

    @property
    def out_key(self) -> str:
        return lane.out_key(self.request_id)

    def settle(self, *, completion_tokens: int, compute_ms: float) -> None:
        """Bill the prompt and `completion_tokens` once; with no token produced, bill nothing."""
        if self.settled:
            return
        self.settled = True
        _tpm_settle(self, used=self.prompt_tokens + completion_tokens)
        if self.reservation is None:
            return
        if completion_tokens <= 0:
            usage_release(reservation=self.reservation)
            return
        try:
            event = usage_commit(reservation=self.reservation, version=self.version, compute_ms=compute_ms,
                                 input_tokens=self.prompt_tokens, output_tokens=completion_tokens)
        except Exception:
            usage_release(reservation=self.reservation)
            log.error("usage of %s could not be recorded", self.request_id)
            raise
        self.amount_minor, self.currency = event.amount_minor, event.currency

    def abandon(self) -> None:
        """Nothing was produced (refused or failed before the first token): release, bill nothing."""
        if not self.settled:
            self.settled = True
            _tpm_settle(self, used=0)
            usage_release(reservation=self.reservation)


def split_name(name: str) -> tuple[str, str | None, str]:
    """`vendor.model[@version][:variant]` -> (vendor.model, version or None, variant)."""
    base, _, variant = name.partition(":")
    base, _, version = base.partition("@")
    variant = variant or "fp32"
    if variant not in VARIANTS:
        raise OpenAIError(400, f"Unknown variant ':{variant}'; use :{' or :'.join(VARIANTS)} "
                               "(for example acme.llama@1.0.0:int4).", param="model", code="invalid_model")
    return base, version or None, variant


def start(*, api_key: ApiKey, params: GenerationParams) -> Call:
    """Admit, count, reserve and queue one generation; raises OpenAIError for every refusal."""
    try:
        return _start(api_key=api_key, params=params)
    except ApplicationError as exc:
        raise OpenAIError.from_application(exc) from None
    except redis.RedisError:
        raise OpenAIError(503, "The service is unavailable for a moment; retry shortly.",
                          code="service_unavailable", headers={"Retry-After": "1"}) from None


def _start(*, api_key: ApiKey, params: GenerationParams) -> Call:
    base, pinned, variant = split_name(params.model)
    admission = gateway.admit(api_key=api_key, name=base, version=pinned)
    version = admission.version
    signature = version.signature or {}
    if signature.get("kind") != "llm":
        raise OpenAIError(400, f"{base} is not a language model; call it with POST /v2/models/{base}/infer.",
                          param="model", code="not_a_language_model")
    if variant == "int4" and not version.int4_artifact:
        raise OpenAIError(404, f"Version {version.version} of {base} has no int4 variant; call {base} for fp32.",
                          param="model", code="model_not_found")
    _check_logit_bias(params=params, vocab_size=int(signature.get("vocab_size") or 0))
    ids = prompt_ids(version=version, params=params)
    context = int(signature.get("context_length") or 0)
    max_tokens = _max_tokens(params=params, prompt=len(ids), context=context)
    request_id = ("chatcmpl-" if params.kind == "chat" else "cmpl-") + uuid.uuid4().hex
    call = Call(request_id=request_id, params=params, model=admission.model, version=version, variant=variant,
                name=params.model, prompt_tokens=len(ids), max_tokens=max_tokens, reservation=None,
                api_key=api_key, rate_headers={**(admission.rate.headers() if admission.rate else {})})
    call.tpm_key, headers = _per_minute_limits(api_key=api_key, tokens=len(ids) + max_tokens)
    for name, value in headers.items():  # the per-second and per-minute policies, side by side
        call.rate_headers[name] = ", ".join(filter(None, [call.rate_headers.get(name), value]))
    call.reservation = usage_reserve(
        request_id=request_id, organization=admission.organization, api_key=api_key, model=admission.model,
        entitlement=admission.entitlement, units=len(ids) + max_tokens, tokens=(len(ids), max_tokens))
    try:
        lane.send(call=call, prompt=ids)
    except BaseException:
        call.abandon()
        raise
    return call


def _check_logit_bias(*, params: GenerationParams, vocab_size: int) -> None:
    outside = [token for token, _ in params.logit_bias if vocab_size and token >= vocab_size]
    if outside:
        raise OpenAIError(400, f"logit_bias names token {outside[0]}, but this model's token ids are 0 to "
                               f"{vocab_size - 1}.", param="logit_bias")  # fmt: skip


def _max_tokens(*, params: GenerationParams, prompt: int, context: int) -> int:
    param = "messages" if params.kind == "chat" else "prompt"
    if prompt >= context:
        raise OpenAIError(400, f"This model's maximum context length is {context} tokens, and your {param} "
                               f"hold {prompt} tokens; shorten them.", param=param, code="context_length_exceeded")
    room = context - prompt
    if params.max_tokens is None:
        return room
    name = params.max_tokens_param
    if params.max_tokens > room:
        raise OpenAIError(400, f"This model's maximum context length is {context} tokens. However, you requested "
                               f"{prompt + params.max_tokens} tokens ({prompt} in the {param}, {params.max_tokens} "
                               f"for the completion); lower max_tokens to {room} or less.", param=name,
                          code="context_length_exceeded")
    return params.max_tokens


def _per_minute_limits(*, api_key: ApiKey, tokens: int) -> tuple[str, dict[str, str]]:
    """Count this request and its most tokens (prompt + max_tokens) in the key's current minute;
    returns the minute's token counter and the RateLimit headers."""
    minute = int(time.time() // 60)
    rpm_key, tpm_key = f"llm:rpm:{api_key.pk}:{minute}", f"llm:tpm:{api_key.pk}:{minute}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(rpm_key)
    pipe.expire(rpm_key, 120)
    pipe.incrby(tpm_key, tokens)
    pipe.expire(tpm_key, 120)
    requests, _, used, _ = pipe.execute()
    rpm, tpm = settings.LLM_RATE_LIMIT_RPM, settings.LLM_RATE_LIMIT_TPM
    reset = 60 - int(time.time()) % 60
    headers = {"RateLimit-Policy": f'"rpm";q={rpm};w=60, "tpm";q={tpm};w=60;qu="tokens"',
               "RateLimit": f'"rpm";r={max(0, rpm - requests)};t={reset}, "tpm";r={max(0, tpm - used)};t={reset}'}
    if requests > rpm or used > tpm:
        get_redis().decrby(tpm_key, tokens)  # a refused request uses no tokens
        what = f"{rpm} requests" if requests > rpm else f"{tpm} tokens (prompt + max_tokens)"
        raise OpenAIError(429, f"This key is limited to {what} a minute; retry in {reset} s or lower max_tokens.",
                          code="rate_limit_exceeded", headers={"Retry-After": str(reset), **headers})
    return tpm_key, headers


def _tpm_settle(call: Call, *, used: int) -> None:
    """Give the minute back what max_tokens reserved and was not produced."""
    unused = call.prompt_tokens + call.max_tokens - used
    if unused > 0 and call.tpm_key:
        try:
            get_redis().decrby(call.tpm_key, unused)
        except redis.RedisError:
            pass  # the counter expires within two minutes anyway
