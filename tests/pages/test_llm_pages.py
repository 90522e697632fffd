"""Language models on the pages: the catalog page's OpenAI snippets and token prices, the kind
filter and card label, the console's chat playground and the usage page's token columns."""

import re
from decimal import Decimal
from html import unescape

import pytest

from accounts.models import ApiKey
from billing.models import UsageEvent
from marketplace.models import Model
from tests.factories import published_model
from tests.inference.serving import subscribe
from tests.llm_serving import llm_version, published_llm

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(vendor):
    return published_llm(vendor.organization, "chat")


def test_language_model_page_shows_openai_snippets_with_its_id_host_and_token_prices(client, chat):
    html = client.get("/catalog/vendor-co/chat/").content.decode()
    python = unescape(re.search(r'data-testid="llm-code-python".*?</pre>', html, re.S)[0])
    assert 'OpenAI(base_url="http://testserver/v1", api_key=os.environ["MODELBAY_API_KEY"])' in python
    assert 'model="vendor-co.chat"' in python and "stream=True" in python
    curl = unescape(re.search(r'data-testid="llm-code-curl".*?</pre>', html, re.S)[0])
    assert "curl -N http://testserver/v1/chat/completions" in curl
    assert "Authorization: Bearer $MODELBAY_API_KEY" in curl and '"model": "vendor-co.chat"' in curl
    assert "$0.50 / 1M input tokens · $1.50 / 1M output tokens" in html
    assert 'data-copy="#snippet-code-python"' in html and 'data-copy="#snippet-code-curl"' in html
    assert "/v2/models/" not in html  # a language model is not called through the tensor API


def test_tensor_model_page_keeps_its_v2_call(client, vendor):
    published_model(vendor.organization, "tiny")
    html = client.get("/catalog/vendor-co/tiny/").content.decode()
    assert "POST /v2/models/vendor-co.tiny/infer" in html
    assert "snippet-python" not in html and "/v1/chat/completions" not in html


def test_catalog_filters_language_models_and_labels_their_cards(client, vendor, outsider, chat):
    published_model(vendor.organization, "tiny")
    draft = Model.objects.create(organization=outsider.organization, slug="draft-lm", name="Draft LM")
    llm_version(draft)  # ready, but never published: stays out of the catalog
    html = client.get("/catalog/", {"kind": "llm"}).content.decode()
    assert ">Chat</a>" in html and ">Tiny</a>" not in html and "Draft LM" not in html
    assert html.count('data-testid="kind">Language model<') == 1
    html = client.get("/catalog/", {"kind": "tensor"}).content.decode()
    assert ">Tiny</a>" in html and ">Chat</a>" not in html
    html = client.get("/catalog/").content.decode()
    assert ">Tiny</a>" in html and ">Chat</a>" in html and '<option value="llm">Language models</option>' in html


def test_chat_playground_of_a_language_model_uses_v1_and_a_short_lived_inference_key(client, buyer, chat):
    subscribe(buyer, chat, "payg")
    client.force_login(buyer.user)
    html = client.get("/console/playground/vendor-co/chat/").content.decode()
    assert 'data-chat-url="/v1/chat/completions"' in html and 'data-model="vendor-co.chat@1.0.0"' in html
    assert "js/chat-playground.js" in html and "has not subscribed" not in html
    for label in ("Message", "System prompt", "Max tokens", "Temperature"):
        assert re.search(rf'<label for="chat-[a-z-]+">{label}', html), label
    assert 'role="log" aria-live="polite"' in html and 'id="chat-stop"' in html
    assert 'data-input=' not in html  # not the tensor form
    key = ApiKey.objects.get(organization=buyer.organization, name__startswith="playground")
    assert key.scopes == ["inference"] and key.expires_at is not None
    assert re.search(r'data-key="(mb_live_\w+)"', html)[1].startswith(key.display_prefix)


def test_usage_page_shows_input_and_output_tokens_of_a_token_plan(client, buyer, chat):
    subscribe(buyer, chat, "payg")
    version, plan = chat.versions.get(), chat.plans.get()
    for i, (prompt, completion) in enumerate([(12, 30), (8, 5)]):
        UsageEvent.objects.create(request_id=f"chatcmpl-{i}", organization=buyer.organization, model=chat,
                                  version=version, plan=plan, units=prompt + completion, input_tokens=prompt,
                                  output_tokens=completion, compute_ms=Decimal("3.5"), currency="usd",
                                  amount_minor=Decimal("0.0010"))
    client.force_login(buyer.user)
    html = client.get("/console/usage/").content.decode()
    table = re.search(r'data-testid="usage-totals".*?</table>', html, re.S)[0]
    assert "Input tokens" in table and "Output tokens" in table
    row = re.search(r"<tr><td><code>vendor-co.chat</code></td>(.*?)</tr>", table)[1]
    assert re.findall(r'<td class="num">([^<]*)</td>', row)[:3] == ["2", "20", "35"]


def test_usage_page_has_no_token_columns_for_tensor_calls_only(client, vendor, buyer):
    tiny = published_model(vendor.organization, "tiny")
    UsageEvent.objects.create(request_id="oip-1", organization=buyer.organization, model=tiny,
                              version=tiny.versions.get(), plan=tiny.plans.get(), units=4,
                              compute_ms=Decimal("0.2"), currency="usd", amount_minor=Decimal(2))
    client.force_login(buyer.user)
    html = client.get("/console/usage/").content.decode()
    assert "<code>vendor-co.tiny</code>" in html and "Input tokens" not in html
