// Vendor upload through the resumable multipart API (the protocol the CLI speaks):
//   1. each chosen file's SHA-256 is computed here, streamed (js-sha256, vendored: WebCrypto has
//      no incremental digest), so nothing is sent before the server knows what to expect;
//   2. POST .../uploads opens the session, or answers with the open one for the identical file list:
//      after a reload or a crash, picking the same file again resumes it and only missing parts go;
//   3. parts go a few at a time (PUT, X-Part-SHA256 from crypto.subtle), the bar counting bytes;
//      a dropped connection is retried with backoff, Pause aborts the parts in flight, Cancel
//      deletes the session;
//   4. POST .../complete, then the version page, whose timeline follows the pipeline live.
(function () {
  "use strict";

  const PARALLEL_PARTS = 3;
  const HASH_CHUNK = 8 * 1024 * 1024;
  const RETRY_MAX_MS = 15000;
  const NO_SESSION = "00000000-0000-0000-0000-000000000000";

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function apiError(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      return { code: body.error && body.error.code, message: (body.error && body.error.message) || xhr.statusText };
    } catch (e) {
      return { code: "", message: "The server answered HTTP " + xhr.status + ". Try again." };
    }
  }

  // One request; resolves with the XHR whatever its status, rejects only when the network failed.
  function send(method, url, body, headers, onProgress, track) {
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      Object.keys(headers || {}).forEach(function (name) { xhr.setRequestHeader(name, headers[name]); });
      if (onProgress) xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = function () { reject(new Error("network")); };
      xhr.onabort = function () { reject(new Error("aborted")); };
      if (track) track(xhr);
      xhr.send(body);
    });
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  async function fileSha256(file, onProgress) {
    const digest = window.sha256.create();
    for (let offset = 0; offset < file.size; offset += HASH_CHUNK) {
      digest.update(await file.slice(offset, offset + HASH_CHUNK).arrayBuffer());
      onProgress(Math.min(file.size, offset + HASH_CHUNK));
    }
    return digest.hex();
  }

  // Sleeps `ms`, or less when `current.wake()` is called (back online, Pause, Cancel).
  function wait(ms, current) {
    return new Promise(function (resolve) {
      const timer = setTimeout(done, ms);
      function done() { clearTimeout(timer); current.sleepers.delete(done); resolve(); }
      current.sleepers.add(done);
    });
  }

  function wake(current) { Array.from(current.sleepers).forEach(function (done) { done(); }); }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const input = form.querySelector("input[type=file]");
    const bar = document.getElementById("upload-bar");
    const box = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const problem = document.getElementById("upload-error");
    const button = document.getElementById("upload-button");
    const pauseButton = document.getElementById("upload-pause");
    const cancelButton = document.getElementById("upload-cancel");
    const controls = document.getElementById("upload-controls");
    const resumeNote = document.getElementById("upload-resume-note");
    const memoryKey = "modelbay-upload:" + form.dataset.uploadsUrl;
    // Every progress value seen, for people debugging slow uploads (and the browser test).
    window.modelbayUploadProgress = [];
    let upload = null;

    function sessionUrl(id) { return form.dataset.sessionUrl.replace(NO_SESSION, id); }

    function showProblem(message) {
      problem.textContent = message;
      problem.hidden = false;
    }

    function finish(message) {
      upload = null;
      status.textContent = message || "";
      controls.hidden = true;
      button.disabled = input.disabled = false;
    }

    function showBytes(current) {
      if (current !== upload) return;  // cancelled or finished meanwhile
      let sent = current.doneBytes;
      current.inflight.forEach(function (entry) { sent += entry.loaded; });
      const total = current.session.total_size || 1;
      const percent = Math.min(100, Math.floor((100 * sent) / total));
      bar.max = 100;
      bar.value = percent;
      window.modelbayUploadProgress.push(percent);
      try { sessionStorage.setItem("modelbay-upload-progress", JSON.stringify(window.modelbayUploadProgress)); } catch (e) { /* private mode */ }
      if (!current.paused) {
        status.textContent = "Uploading: " + percent + "% (" + sent.toLocaleString() + " of " +
          current.session.total_size.toLocaleString() + " bytes)" + current.retryNote;
      }
    }

    // The parts the session lacks, in file order.
    function missingParts(session) {
      const queue = [];
      session.files.forEach(function (spec) {
        const present = new Set(spec.present);
        for (let n = 0; n < spec.parts; n++) if (!present.has(n)) queue.push({ file: spec.index, number: n });
      });
      return queue;
    }

    async function sendPart(current, part, run) {
      const size = current.session.part_size;
      const blob = current.files[part.file].slice(part.number * size, (part.number + 1) * size);
      const body = await blob.arrayBuffer();
      const digest = hex(await crypto.subtle.digest("SHA-256", body));
      // Pause or Cancel while this part was being read and hashed: it has no request to abort
      // yet, so it must not start one.
      if (current.run !== run || current.cancelled) return "aborted";
      const entry = { loaded: 0, xhr: null };
      const key = part.file + ":" + part.number;
      current.inflight.set(key, entry);
      try {
        const xhr = await send(
          "PUT", sessionUrl(current.session.id) + "/files/" + part.file + "/parts/" + part.number, body,
          { "Content-Type": "application/octet-stream", "X-Part-SHA256": digest },
          function (loaded) { entry.loaded = loaded; showBytes(current); },
          function (request) { entry.xhr = request; });
        if (xhr.status === 200) {
          current.doneBytes += blob.size;
          return "sent";
        }
        const error = apiError(xhr);
        if (xhr.status >= 500 || xhr.status === 429 || error.code === "part_hash_mismatch") return "retry";
        throw new Error(error.message);
      } catch (err) {
        if (err.message === "network") return "retry";
        if (err.message === "aborted") return "aborted";
        throw err;
      } finally {
        current.inflight.delete(key);
      }
    }

    // One of PARALLEL_PARTS lanes: takes parts off the queue until it is empty or the upload is
    // paused or cancelled (Pause starts a new run: `run` tells this run's lanes apart).
    async function lane(current, run) {
      while (current.queue.length && current.run === run && !current.cancelled) {
        const part = current.queue.shift();
        const outcome = await sendPart(current, part, run);
        if (outcome === "sent") {
          current.failures = 0;
          current.retryNote = "";
          showBytes(current);
          continue;
        }
        current.queue.unshift(part);  // aborted by Pause/Cancel, or to be retried
        if (outcome === "retry") {
          current.failures += 1;
          const delay = Math.min(RETRY_MAX_MS, 1000 * 2 ** Math.min(current.failures - 1, 4));
          current.retryNote = " · connection lost, retrying in " + Math.round(delay / 1000) +
            " s (the parts already sent are kept)";
          showBytes(current);
          await wait(delay, current);
        }
      }
    }

    async function pump(current) {
      const run = current.run;
      await Promise.all(Array.from({ length: PARALLEL_PARTS }, function () { return lane(current, run); }));
      if (current !== upload || current.run !== run || current.cancelled || current.queue.length) return;
      await complete(current);
    }

    async function complete(current) {
      status.textContent = "All bytes sent. Checking and assembling the file…";
      let xhr;
      try {
        xhr = await send("POST", sessionUrl(current.session.id) + "/complete", null, {});
      } catch (err) {
        await wait(2000, current);
        return current === upload && !current.cancelled ? complete(current) : undefined;
      }
      if (xhr.status === 202) {
        const version = JSON.parse(xhr.responseText).version;
        forget();
        bar.value = 100;
        window.modelbayUploadProgress.push(100);
        try { sessionStorage.setItem("modelbay-upload-progress", JSON.stringify(window.modelbayUploadProgress)); } catch (e) { /* private mode */ }
        status.textContent = "Uploaded. Version " + version + " is in the pipeline…";
        window.location.assign(form.dataset.versionUrl.replace("__v__", encodeURIComponent(version)));
        return;
      }
      const error = apiError(xhr);
      if (xhr.status === 502 || xhr.status === 503 || xhr.status === 504 || error.code === "upload_completing") {
        // A proxy gave up waiting on a long assembly, or it is still running: the server carries
        // on, and asking again answers with the version (or the refusal) once it is done.
        status.textContent = "The server is still assembling the file…";
        await wait(2000, current);
        return current === upload && !current.cancelled ? complete(current) : undefined;
      }
      if (error.code === "upload_incomplete") {  // parts lost meanwhile: send what the server lacks
        const fresh = await send("GET", sessionUrl(current.session.id), null, {});
        current.session = JSON.parse(fresh.responseText);
        current.queue = missingParts(current.session);
        current.doneBytes = current.session.bytes_received;
        return pump(current);
      }
      if (xhr.status === 422 || error.code === "upload_closed") forget();
      showProblem(error.message);
      finish("");
    }

    function remember(session, files) {
      try {
        localStorage.setItem(memoryKey, JSON.stringify({
          id: session.id, version: session.version, names: files.map(function (f) { return f.name; }),
        }));
      } catch (e) { /* private mode: resuming still works by picking the same file */ }
    }

    function forget() {
      try { localStorage.removeItem(memoryKey); } catch (e) { /* private mode */ }
      resumeNote.hidden = true;
    }

    async function start(files) {
      const version = (form.querySelector("[name=version]") || { value: "" }).value.trim();
      const declared = [];
      let hashed = 0;
      const total = files.reduce(function (sum, f) { return sum + f.size; }, 0);
      for (const file of files) {
        const sha = await fileSha256(file, function (done) {
          status.textContent = "Preparing: computing the SHA-256 of " + file.name + " (" +
            Math.floor((100 * (hashed + done)) / (total || 1)) + "%)";
        });
        hashed += file.size;
        declared.push({ path: file.webkitRelativePath || file.name, size: file.size, sha256: sha });
      }
      const body = { files: declared };
      if (version) body.version = version;
      const xhr = await send("POST", form.dataset.uploadsUrl, JSON.stringify(body), { "Content-Type": "application/json" });
      if (xhr.status !== 200 && xhr.status !== 201) throw new Error(apiError(xhr).message);
      const session = JSON.parse(xhr.responseText);
      remember(session, files);
      upload = {
        session: session, files: files, queue: missingParts(session), inflight: new Map(),
        doneBytes: session.bytes_received, paused: false, cancelled: false, failures: 0, retryNote: "",
        run: 0, sleepers: new Set(),
      };
      if (xhr.status === 200 && session.bytes_received > 0) {
        status.textContent = "Resuming: " + session.bytes_received.toLocaleString() + " bytes were already sent.";
      }
      controls.hidden = false;
      pauseButton.textContent = "Pause";
      showBytes(upload);
      pump(upload).catch(fail);
    }

    function fail(err) {
      if (upload) {  // stop the other lanes; the session stays open, so choosing the file again resumes it
        upload.cancelled = true;
        wake(upload);
      }
      showProblem(err.message === "network" ? "The connection broke. Choose the file again to resume." : err.message);
      finish("");
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      problem.hidden = true;
      const files = Array.from(input.files || []);
      if (!files.length) {
        showProblem("Choose a model file first.");
        return;
      }
      box.hidden = false;
      button.disabled = input.disabled = true;
      window.modelbayUploadProgress = [];
      start(files).catch(fail);
    });

    pauseButton.addEventListener("click", function () {
      const current = upload;
      if (!current) return;
      current.paused = !current.paused;
      current.run += 1;  // the lanes of the run before stop; a new run starts on Resume
      if (current.paused) {
        current.inflight.forEach(function (entry) { if (entry.xhr) entry.xhr.abort(); });
        wake(current);
        pauseButton.textContent = "Resume";
        status.textContent = "Paused at " + bar.value + "%. The parts already sent are kept.";
      } else {
        pauseButton.textContent = "Pause";
        current.failures = 0;
        showBytes(current);
        pump(current).catch(fail);
      }
    });

    cancelButton.addEventListener("click", async function () {
      if (!upload) return;
      const current = upload;
      current.cancelled = true;
      wake(current);
      current.inflight.forEach(function (entry) { if (entry.xhr) entry.xhr.abort(); });
      forget();
      try {
        await send("DELETE", sessionUrl(current.session.id), null, {});
      } catch (e) { /* offline: the server expires the session and deletes its parts */ }
      bar.value = 0;
      finish("Upload cancelled; the parts sent were deleted.");
    });

    // Back online: retry at once instead of waiting out the backoff.
    window.addEventListener("online", function () { if (upload) wake(upload); });

    // An upload interrupted by a reload or a crash: say how to resume it.
    let remembered = null;
    try { remembered = JSON.parse(localStorage.getItem(memoryKey) || "null"); } catch (e) { remembered = null; }
    if (remembered) {
      send("GET", sessionUrl(remembered.id), null, {}).then(function (xhr) {
        const session = xhr.status === 200 ? JSON.parse(xhr.responseText) : null;
        if (!session || session.status !== "open") { forget(); return; }
        const percent = Math.floor((100 * session.bytes_received) / (session.total_size || 1));
        resumeNote.textContent = "An upload of " + remembered.names.join(", ") + " (version " + session.version +
          ") stopped at " + percent + "%. Choose the same file again and press Upload: only the missing parts are sent.";
        resumeNote.hidden = false;
      }).catch(function () { /* offline: nothing to say yet */ });
    }
  });
})();
