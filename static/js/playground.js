// Playground: builds an Open Inference Protocol request from the generated form, calls
// POST /v2/models/{name}/infer with the page's short-lived key, and shows the outputs and the
// usage receipt headers. Nothing is stored: the payload lives in this page only.
(function () {
  "use strict";

  function shapeOf(value) {
    const shape = [];
    let cursor = value;
    while (Array.isArray(cursor)) { shape.push(cursor.length); cursor = cursor[0]; }
    return shape;
  }

  function flatten(value, out) {
    if (Array.isArray(value)) { value.forEach(function (v) { flatten(v, out); }); } else { out.push(value); }
    return out;
  }

  function buildInputs(form) {
    return Array.prototype.map.call(form.querySelectorAll("[data-input]"), function (box) {
      const name = box.dataset.input;
      const text = box.querySelector("textarea").value.trim();
      if (box.dataset.kind === "text") {
        const lines = text.split("\n").filter(function (l) { return l.length; });
        return { name: name, datatype: "BYTES", shape: [lines.length], data: lines };
      }
      let value;
      try { value = JSON.parse(text); } catch (e) {
        throw new Error("Input “" + name + "” is not a JSON array of numbers: " + e.message);
      }
      if (!Array.isArray(value)) value = [value];
      return { name: name, datatype: box.dataset.datatype, shape: shapeOf(value), data: flatten(value, []) };
    });
  }

  // With a tokenizer, the text box is turned into token tensors by the API first (not billed).
  function tokenInputs(form) {
    const box = form.querySelector("[data-text]");
    if (!box) return Promise.resolve([]);
    return fetch(form.dataset.tokenizeUrl, {
      method: "POST",
      headers: { "Authorization": "Bearer " + form.dataset.key, "Content-Type": "application/json" },
      body: JSON.stringify({ model: form.dataset.model, version: form.dataset.version, text: box.value }),
      credentials: "omit",
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error("Tokenizing failed: HTTP " + response.status + ": " + ((body.error && body.error.message) || response.statusText));
        return body.inputs;
      });
    });
  }

  // The request just run as a curl command, in the form marketplace/snippets.py curl_request
  // writes: the buyer's key placeholder, never the page's short-lived key.
  function curlCommand(form, body) {
    const quoted = "'" + body.replace(/'/g, "'\\''") + "'";
    return "curl " + form.dataset.requestUrl + " \\\n  -H \"Authorization: Bearer " + form.dataset.keyPlaceholder +
      "\" \\\n  -H \"Content-Type: application/json\" \\\n  -d " + quoted;
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("playground-form");
    if (!form) return;
    const error = document.getElementById("playground-error");
    const result = document.getElementById("playground-result");
    const status = document.getElementById("playground-status");
    const button = document.getElementById("run-button");
    const copyRequest = document.querySelector("[data-copy='#last-request']");

    // Every run starts from an empty result: after a failed run, the previous outputs and
    // receipt must not stay on screen as if they answered the inputs now in the form.
    function clearResult() {
      result.hidden = true;
      ["receipt-units", "receipt-cost", "receipt-quota", "receipt-request", "playground-outputs", "last-request",
        "last-request-status"].forEach(function (id) {
        document.getElementById(id).textContent = "";
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      clearResult();
      let inputs;
      try { inputs = buildInputs(form); } catch (e) {
        error.textContent = e.message; error.hidden = false; return;
      }
      button.disabled = true;
      status.textContent = "Running…";
      let sent = "";
      tokenInputs(form).then(function (tokens) {
        sent = JSON.stringify({ inputs: tokens.concat(inputs) });
        return fetch(form.dataset.inferUrl, {
          method: "POST",
          headers: { "Authorization": "Bearer " + form.dataset.key, "Content-Type": "application/json" },
          body: sent,
          credentials: "omit",
        });
      }).then(function (response) {
        return response.json().then(function (body) { return { response: response, body: body }; });
      }).then(function (answer) {
        const response = answer.response, body = answer.body;
        if (!response.ok) {
          const message = typeof body.error === "string" ? body.error : (body.error && body.error.message) || response.statusText;
          throw new Error("HTTP " + response.status + ": " + message);
        }
        document.getElementById("receipt-units").textContent = response.headers.get("X-Modelbay-Units") || "—";
        document.getElementById("receipt-cost").textContent = response.headers.get("X-Modelbay-Cost") || "—";
        document.getElementById("receipt-quota").textContent = response.headers.get("X-Modelbay-Quota-Remaining") || "—";
        document.getElementById("receipt-request").textContent = response.headers.get("X-Modelbay-Request-Id") || "—";
        document.getElementById("playground-outputs").textContent = (body.outputs || []).map(function (o) {
          return o.name + " (" + o.datatype + ", shape [" + o.shape.join(", ") + "]):\n" + JSON.stringify(o.data);
        }).join("\n\n");
        document.getElementById("last-request").textContent = curlCommand(form, sent);
        copyRequest.textContent = "Copy this request";
        result.hidden = false;
        status.textContent = "Done.";
      }).catch(function (e) {
        clearResult();
        error.textContent = e.message;
        error.hidden = false;
        status.textContent = "";
      }).finally(function () { button.disabled = false; });
    });
  });
})();
