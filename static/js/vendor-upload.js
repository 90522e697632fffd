// Vendor upload: sends the file to the vendor API with XHR so the bar shows real upload bytes,
// then opens the version page, whose timeline follows the pipeline live (htmx polling).
(function () {
  "use strict";

  function csrfToken() {
    const headers = document.body.getAttribute("hx-headers");
    try { return JSON.parse(headers)["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function errorMessage(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      return (body.error && body.error.message) || xhr.statusText;
    } catch (e) {
      return "The upload failed (HTTP " + xhr.status + "). Try again.";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const bar = document.getElementById("upload-bar");
    const box = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const problem = document.getElementById("upload-error");
    const button = document.getElementById("upload-button");
    // Every progress value seen, for people debugging slow uploads (and the browser test).
    window.modelbayUploadProgress = [];

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const file = form.querySelector("input[type=file]").files[0];
      problem.hidden = true;
      if (!file) {
        problem.textContent = "Choose a model file first.";
        problem.hidden = false;
        return;
      }
      const data = new FormData(form);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      box.hidden = false;
      button.disabled = true;
      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable) return;
        const percent = Math.round((100 * e.loaded) / e.total);
        bar.value = percent;
        window.modelbayUploadProgress.push(percent);
        try { sessionStorage.setItem("modelbay-upload-progress", JSON.stringify(window.modelbayUploadProgress)); } catch (err) { /* private mode */ }
        status.textContent = "Uploading: " + percent + "% (" + e.loaded.toLocaleString() + " of " + e.total.toLocaleString() + " bytes)";
      };
      xhr.onload = function () {
        if (xhr.status === 202) {
          const version = JSON.parse(xhr.responseText).version;
          bar.value = 100;
          status.textContent = "Uploaded. Version " + version + " is in the pipeline…";
          window.location.assign(form.dataset.versionUrl.replace("__v__", encodeURIComponent(version)));
        } else {
          problem.textContent = errorMessage(xhr);
          problem.hidden = false;
          status.textContent = "";
          button.disabled = false;
        }
      };
      xhr.onerror = function () {
        problem.textContent = "The connection broke during the upload. Try again.";
        problem.hidden = false;
        button.disabled = false;
      };
      xhr.send(data);
    });
  });
})();
