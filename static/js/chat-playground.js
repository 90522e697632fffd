// Chat playground for language models: sends the conversation so far to POST /v1/chat/completions
// (the OpenAI API shape) with the page's short-lived key, reads the Server-Sent Events body with a
// ReadableStream reader and appends each delta to the assistant's bubble as it arrives. Stop aborts
// the request; the server then bills only the tokens generated until it noticed the hang-up.
// Nothing is stored: the conversation lives in this page only.
(function () {
  "use strict";

  // An OpenAI-shaped error body ({"error": {"message": ...}}) or anything else, as one line.
  function errorText(body, response) {
    const error = body && body.error;
    const message = (error && (error.message || (typeof error === "string" ? error : ""))) || (response && response.statusText) || "the request failed";
    return response ? "HTTP " + response.status + ": " + message : message;
  }

  // Calls onEvent with each parsed `data:` payload of the SSE body; resolves at `data: [DONE]` or the end.
  function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    function handle(block) {
      const data = block.split(/\r?\n/).filter(function (line) { return line.indexOf("data:") === 0; })
        .map(function (line) { return line.slice(5).replace(/^ /, ""); }).join("\n");
      if (!data) return false;
      if (data === "[DONE]") return true;
      onEvent(JSON.parse(data));
      return false;
    }
    function pump() {
      return reader.read().then(function (step) {
        buffer += decoder.decode(step.value || new Uint8Array(), { stream: !step.done });
        const blocks = buffer.split(/\r?\n\r?\n/);
        buffer = step.done ? "" : blocks.pop();
        for (const block of blocks) {
          if (handle(block)) { reader.cancel().catch(function () {}); return; }
        }
        if (!step.done) return pump();
      });
    }
    return pump();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("chat-form");
    if (!form) return;
    const transcript = document.getElementById("chat-transcript");
    const empty = document.getElementById("chat-empty");
    const message = document.getElementById("chat-message");
    const system = document.getElementById("chat-system");
    const maxTokens = document.getElementById("chat-max-tokens");
    const temperature = document.getElementById("chat-temperature");
    const error = document.getElementById("chat-error");
    const usage = document.getElementById("chat-usage");
    const send = document.getElementById("chat-send");
    const stop = document.getElementById("chat-stop");
    const clear = document.getElementById("chat-clear");
    const conversation = [];
    let controller = null;

    function bubble(role, text) {
      const box = document.createElement("div");
      box.className = "bubble " + role;
      box.dataset.testid = role + "-bubble";
      const who = document.createElement("p");
      who.className = "who";
      who.textContent = role === "user" ? "You" : "Assistant";
      const body = document.createElement("div");
      body.className = "text";
      body.appendChild(document.createTextNode(text));
      box.append(who, body);
      empty.hidden = true;
      transcript.appendChild(box);
      transcript.scrollTop = transcript.scrollHeight;
      return box;
    }

    function showError(text) { error.textContent = text; error.hidden = false; }

    function settings() {
      const tokens = Number(maxTokens.value);
      const temp = Number(temperature.value);
      if (!Number.isInteger(tokens) || tokens < 1) throw new Error("Max tokens must be a whole number of at least 1.");
      if (temperature.value.trim() === "" || !(temp >= 0 && temp <= 2)) throw new Error("Temperature must be between 0 and 2.");
      return { max_tokens: tokens, temperature: temp };
    }

    function busy(on) {
      send.disabled = on;
      clear.disabled = on;
      stop.disabled = !on;
      transcript.setAttribute("aria-busy", on ? "true" : "false");  // screen readers read the answer once whole
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (controller) return;
      error.hidden = true;
      const text = message.value.trim();
      if (!text) { showError("Write a message first."); message.focus(); return; }
      let options;
      try { options = settings(); } catch (e) { showError(e.message); return; }
      const messages = (system.value.trim() ? [{ role: "system", content: system.value.trim() }] : [])
        .concat(conversation, [{ role: "user", content: text }]);
      const userBubble = bubble("user", text);
      const answer = bubble("assistant", "");
      answer.classList.add("streaming");
      const answerText = answer.querySelector(".text").firstChild;
      message.value = "";
      usage.textContent = "Generating…";
      controller = new AbortController();
      busy(true);
      let finish = null, counts = null;
      fetch(form.dataset.chatUrl, {
        method: "POST",
        headers: { "Authorization": "Bearer " + form.dataset.key, "Content-Type": "application/json", "Accept": "text/event-stream" },
        body: JSON.stringify(Object.assign({
          model: form.dataset.model, messages: messages, stream: true, stream_options: { include_usage: true },
        }, options)),
        credentials: "omit",
        signal: controller.signal,
      }).then(function (response) {
        if (!response.ok) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            throw new Error(errorText(body, response));
          });
        }
        return readEvents(response.body, function (chunk) {
          if (chunk.error) throw new Error(errorText(chunk, null));  // the stream failed after it started
          const choice = chunk.choices && chunk.choices[0];
          if (choice && choice.delta && choice.delta.content) {
            answerText.appendData(choice.delta.content);
            transcript.scrollTop = transcript.scrollHeight;
          }
          if (choice && choice.finish_reason) finish = choice.finish_reason;
          if (chunk.usage) counts = chunk.usage;
        });
      }).then(function () {
        conversation.push({ role: "user", content: text }, { role: "assistant", content: answerText.data });
        answer.dataset.state = "done";
        usage.textContent = counts
          ? "Prompt tokens: " + counts.prompt_tokens + " · completion tokens: " + counts.completion_tokens + " · total: " + counts.total_tokens + (finish === "length" ? " (stopped at max tokens)" : "")
          : "Done.";
      }).catch(function (e) {
        if (e.name === "AbortError") {
          // What arrived stays in the conversation, so the next turn continues from it.
          conversation.push({ role: "user", content: text }, { role: "assistant", content: answerText.data });
          answer.dataset.state = "stopped";
          usage.textContent = "Stopped. Only the tokens generated until then are billed.";
          return;
        }
        answer.dataset.state = "failed";
        if (!answerText.data) {  // nothing came back: take the turn back, so it can be sent again
          answer.remove();
          userBubble.remove();
          empty.hidden = transcript.querySelector(".bubble") !== null;
          if (!message.value) message.value = text;
        }
        usage.textContent = "";
        showError(e.message);
      }).finally(function () {
        answer.classList.remove("streaming");
        controller = null;
        busy(false);
      });
    });

    message.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });

    stop.addEventListener("click", function () { if (controller) controller.abort(); });

    clear.addEventListener("click", function () {
      conversation.length = 0;
      transcript.querySelectorAll(".bubble").forEach(function (node) { node.remove(); });
      empty.hidden = false;
      usage.textContent = "";
      error.hidden = true;
      message.focus();
    });
  });
})();
