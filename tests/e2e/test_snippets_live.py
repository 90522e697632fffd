"""The code a model page offers runs as shown: its curl, Python (tritonclient) and JavaScript
snippets, with the buyer's key in place of the prefix, call a live server and a real worker."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.test import Client

from billing.models import UsageEvent
from tests.inference.serving import subscribe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def page_snippets(buyer) -> dict[str, str]:
    client = Client()
    client.force_login(buyer.user)
    page = client.get("/catalog/vendor-co/tiny/").content.decode()
    return {language: html.unescape(code)
            for language, code in re.findall(r'<code id="snippet-code-(\w+)">(.*?)</code>', page, re.S)}


def runnable(code: str, buyer, live_server) -> str:
    placeholder = f"{buyer.api_key.display_prefix}…"
    assert placeholder in code and buyer.secret not in code
    host = urlsplit(live_server.url).netloc  # the page names the host it was asked on
    return (code.replace(placeholder, buyer.secret).replace("http://testserver", live_server.url)
            .replace('url="testserver"', f'url="{host}"'))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_snippet_runs_and_answers_with_the_outputs_shape(buyer, tiny, infer_worker, live_server):
    subscribe(buyer, tiny, "payg")
    command = runnable(page_snippets(buyer)["curl"], buyer, live_server) + ' -sS -w "\\n%{http_code}"'
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    body, status = done.stdout.rsplit("\n", 1)
    assert status == "200", (done.stdout, done.stderr)
    [output] = json.loads(body)["outputs"]
    assert output["name"] == "y" and output["shape"] == [1, 2] and len(output["data"]) == 2
    assert UsageEvent.objects.filter(organization=buyer.organization).count() == 1


def test_the_python_snippet_runs_with_tritonclient(buyer, tiny, infer_worker, live_server, tmp_path):
    subscribe(buyer, tiny, "payg")
    script = tmp_path / "call.py"
    script.write_text(runnable(page_snippets(buyer)["python"], buyer, live_server)
                      + '\nprint("SHAPE", list(result.as_numpy("y").shape))\n')
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "SHAPE [1, 2]" in done.stdout and done.stdout.startswith("y [[")
    assert UsageEvent.objects.filter(organization=buyer.organization).count() == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_snippet_runs_with_fetch(buyer, tiny, infer_worker, live_server, tmp_path):
    subscribe(buyer, tiny, "payg")
    script = tmp_path / "call.mjs"
    script.write_text(runnable(page_snippets(buyer)["javascript"], buyer, live_server))
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("y [ 1, 2 ] [")
