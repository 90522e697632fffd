"""The buyer console's playground: a form built from the model's input signature that calls the
real inference API from the browser, with a short-lived `inference`-only key minted for the page.

The key is created through accounts.services.api_key_create (audited, stored hashed, expiring in
15 minutes); its secret is only ever in this page. Inputs and outputs go browser -> /v2 -> browser
and are never stored (DESIGN.md).
"""

import json
from datetime import timedelta

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.models import ApiKey
from accounts.pages import org_required
from accounts.selectors import api_key_prefix_for_snippets
from accounts.services import api_key_create
from accounts.tenancy import client_ip
from core.errors import NotFound
from inference.runtime.tokenizer import TOKEN_INPUTS
from marketplace.llm_snippets import llm_snippets
from marketplace.models import ModelVersion
from marketplace.selectors import catalog
from marketplace.selectors.entitlements import entitlement_for
from marketplace.selectors.listings import vendor_model_get
from marketplace.snippets import key_placeholder, tensor_snippets
from marketplace.views.common import units_explained

KEY_LIFETIME = timedelta(minutes=15)
NUMERIC = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "BOOL"}


def _example(shape: list[int], datatype: str):
    """A zero tensor of the input's shape with dynamic dimensions as 1, as nested lists."""
    value = False if datatype == "BOOL" else 0
    for dim in reversed([d if isinstance(d, int) and d > 0 else 1 for d in shape] or [1]):
        value = [value if not isinstance(value, list) else json.loads(json.dumps(value)) for _ in range(dim)]
    return value


def _fields(signature: dict, *, tokenized: bool = False) -> list[dict]:
    """One form field per input; with a tokenizer, token inputs come from one text box instead."""
    fields = []
    for spec in signature.get("inputs") or []:
        if tokenized and spec["name"] in TOKEN_INPUTS:
            continue
        datatype = spec.get("datatype", "FP32")
        numeric = datatype in NUMERIC
        fields.append({
            "name": spec["name"], "datatype": datatype, "shape": spec.get("shape") or [],
            "kind": "numbers" if numeric else "text",
            "example": json.dumps(_example(spec.get("shape") or [], datatype)) if numeric else "",
        })
    return fields


@never_cache  # the page holds a key's secret: no cache may keep it
@org_required
def playground(request: HttpRequest, vendor: str, slug: str) -> HttpResponse:
    organization = request.tenant.organization
    try:
        model = catalog.catalog_model_get(vendor=vendor, slug=slug)
    except NotFound:
        if organization.slug != vendor:
            raise Http404(f"No published model '{vendor}.{slug}' in the catalog.") from None
        try:
            model = vendor_model_get(organization=organization, slug=slug)  # a vendor trying its own draft
        except NotFound as error:
            raise Http404(error.message) from error
    version = catalog.latest_ready_version(model)
    if version is None:
        raise Http404(f"{model.full_name} has no ready version to try yet.")
    owner = model.organization_id == organization.pk
    entitlement = None if owner else entitlement_for(organization=organization, model=model)
    _, secret = api_key_create(
        organization=organization, created_by=request.user, name=f"playground {model.full_name}",
        scopes=[ApiKey.Scope.INFERENCE], expires_at=timezone.now() + KEY_LIFETIME, ip_address=client_ip(request),
    )
    common = {"section": "playground", "model": model, "version": version, "key": secret, "owner": owner,
              "entitlement": entitlement, "minutes": int(KEY_LIFETIME.total_seconds() // 60),
              "subscribe_url": reverse("console:subscribe", kwargs={"vendor": model.organization.slug,
                                                                    "slug": model.slug})}
    if version.kind == ModelVersion.Kind.LLM:
        # Pinned to the version shown, so the page and the answers it gets name the same model.
        return render(request, "console/chat_playground.html", {
            **common, "chat_url": reverse("openai-chat-completions"), "model_id": f"{model.full_name}@{version.version}",
            "context_length": int((version.signature or {}).get("context_length") or 0),
            **_llm_snippets(request, model=model),
        })
    return render(request, "console/playground.html", {
        "section": "playground", "model": model, "version": version, "fields": _fields(version.signature or {}, tokenized=bool(version.tokenizer_artifact)),
        "infer_url": f"/v2/models/{model.full_name}/infer", "key": secret, "owner": owner,
        "entitlement": entitlement, "minutes": int(KEY_LIFETIME.total_seconds() // 60),
        "subscribe_url": reverse("console:subscribe", kwargs={"vendor": model.organization.slug, "slug": model.slug}),
        "has_tokenizer": bool(version.tokenizer_artifact),
        "tokenize_url": reverse("tokenize"),
        "units_note": units_explained(entitlement.plan if entitlement else None),
        **_snippets(request, model=model, version=version),
    })


def _llm_snippets(request: HttpRequest, *, model) -> dict:
    """The OpenAI-SDK, curl and fetch code with the buyer's lasting key prefix (not the page's key)."""
    key_prefix = api_key_prefix_for_snippets(organization=request.tenant.organization, user=request.user)
    return {"snippets": llm_snippets(base_url=request.build_absolute_uri("/"), model_name=model.full_name,
                                     key=key_placeholder(key_prefix)),
            "key_prefix": key_prefix}


def _snippets(request: HttpRequest, *, model, version: ModelVersion) -> dict:
    """Code for the model with the buyer's lasting key prefix, never the page's short-lived key."""
    key_prefix = api_key_prefix_for_snippets(organization=request.tenant.organization, user=request.user)
    key = key_placeholder(key_prefix)
    return {
        "snippets": tensor_snippets(base_url=request.build_absolute_uri("/"), model_name=model.full_name,
                                    signature=version.signature or {}, key=key,
                                    tokenizer=bool(version.tokenizer_artifact)),
        "key_prefix": key_prefix, "key_placeholder": key, "tokenizer": bool(version.tokenizer_artifact),
        "infer_absolute_url": request.build_absolute_uri(f"/v2/models/{model.full_name}/infer"),
    }
