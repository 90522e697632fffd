"""Copyable code for calling a language model through the OpenAI-compatible /v1 API, streamed:
curl (Server-Sent Events as they arrive), Python with the official `openai` SDK (`base_url` =
the site's /v1) and JavaScript `fetch` reading the event stream. Pure functions, so the text is
tested as run (tests/e2e/test_llm_snippets_live.py)."""

from __future__ import annotations

import json

from marketplace.snippets import ENV_KEY, Snippet, shell_quote

EXAMPLE_MESSAGE = "Hello!"


def llm_snippets(*, base_url: str, model_name: str, key: str) -> list[Snippet]:
    """The three snippets for `model_name` served at `base_url` (scheme and host, no path)."""
    api_base = f"{base_url.rstrip('/')}/v1"
    return [
        Snippet("curl", "curl", curl_snippet(api_base=api_base, model_name=model_name, key=key)),
        Snippet("python", "Python", python_snippet(api_base=api_base, model_name=model_name, key=key)),
        Snippet("javascript", "JavaScript", javascript_snippet(api_base=api_base, model_name=model_name, key=key)),
    ]


def _body(model_name: str) -> dict:
    return {"model": model_name, "messages": [{"role": "user", "content": EXAMPLE_MESSAGE}], "stream": True}


def curl_snippet(*, api_base: str, model_name: str, key: str) -> str:
    # -N: print each event as it arrives instead of buffering the stream.
    return (f"curl -N {api_base}/chat/completions \\\n  -H \"Authorization: Bearer {key}\" \\\n"
            f"  -H \"Content-Type: application/json\" \\\n  -d {shell_quote(json.dumps(_body(model_name)))}")


def python_snippet(*, api_base: str, model_name: str, key: str) -> str:
    env = key == ENV_KEY
    lines = ["import os", ""] if env else []
    lines += ["from openai import OpenAI", ""]
    lines.append(f'client = OpenAI(base_url="{api_base}", api_key=os.environ["MODELBAY_API_KEY"])' if env
                 else f'client = OpenAI(base_url="{api_base}", api_key="{key}")  # your whole key: it starts with this')
    lines += [
        "stream = client.chat.completions.create(",
        f'    model="{model_name}",',
        f'    messages=[{{"role": "user", "content": "{EXAMPLE_MESSAGE}"}}],',
        "    stream=True,",
        ")",
        "for chunk in stream:",
        "    if chunk.choices:",
        '        print(chunk.choices[0].delta.content or "", end="", flush=True)',
        "print()",
    ]
    return "\n".join(lines)


def javascript_snippet(*, api_base: str, model_name: str, key: str) -> str:
    env = key == ENV_KEY
    body = f'{{ model: "{model_name}", messages: [{{ role: "user", content: "{EXAMPLE_MESSAGE}" }}], stream: true }}'
    return "\n".join([
        "// Node 18+ (save as chat.mjs); in a browser, append each piece of text to the page instead",
        "const API_KEY = process.env.MODELBAY_API_KEY;" if env
        else f'const API_KEY = "{key}"; // your whole key: it starts with this prefix',
        f'const response = await fetch("{api_base}/chat/completions", {{',
        '  method: "POST",',
        '  headers: { "Authorization": `Bearer ${API_KEY}`, "Content-Type": "application/json" },',
        f"  body: JSON.stringify({body}),",
        "});",
        "if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);",
        "",
        "// Server-Sent Events: each event is \"data: {json}\" and a blank line; the last is \"data: [DONE]\".",
        "const decoder = new TextDecoder();",
        'let buffer = "";',
        "for await (const bytes of response.body) {",
        "  buffer += decoder.decode(bytes, { stream: true });",
        '  const events = buffer.split("\\n\\n");',
        "  buffer = events.pop();",
        "  for (const event of events) {",
        '    const data = event.replace(/^data: /, "");',
        '    if (data === "[DONE]") continue;',
        "    const chunk = JSON.parse(data);",
        "    if (chunk.error) throw new Error(chunk.error.message);",
        '    process.stdout.write(chunk.choices[0]?.delta?.content ?? "");',
        "  }",
        "}",
        'process.stdout.write("\\n");',
    ])
