// Small page behaviours. Everything works without JavaScript except copying to the clipboard.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP hosts other than localhost have no clipboard API: fall back to a selection.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  // <select data-autosubmit> submits its form on change (the organization switcher); no inline
  // handlers, so a strict Content-Security-Policy can be added later.
  document.addEventListener("change", function (event) {
    const select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  // <details open data-fold-narrow> folds on a phone-sized screen (the catalog's filters), so the
  // first screen shows content; its summary unfolds it.
  if (window.matchMedia("(max-width: 640px)").matches) {
    document.querySelectorAll("details[data-fold-narrow]").forEach(function (details) { details.open = false; });
  }

  // <button data-copy="#element-id">Copy</button> copies that element's text.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    const status = document.getElementById(button.getAttribute("aria-describedby") || "");
    copyText(source.textContent.trim()).then(
      function () { if (status) status.textContent = "Copied to the clipboard."; button.textContent = "Copied"; },
      function () { if (status) status.textContent = "Copy failed: select the text and copy it by hand."; }
    );
  });
})();
