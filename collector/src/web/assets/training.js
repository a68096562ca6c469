// Page 7 (training and S3): the upload form (a file input that also takes dropped files,
// posted as multipart/form-data) and the JSON forms (`form.api-form`: mark a window
// healthy, start an S3 scan). Each posts to its REST endpoint with the session's
// X-CSRF-Token through app.js, then re-renders the page. No inline script: strict CSP.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const flash = (t, e) => window.fleetlogFlash && window.fleetlogFlash(t, e);
  const refresh = () => (window.fleetlogRefresh ? window.fleetlogRefresh("main") : Promise.resolve());

  // Drag and drop onto the upload area fills the file input.
  const drop = document.getElementById("drop");
  const input = document.getElementById("up-files");
  const list = document.getElementById("up-list");
  function showFiles() {
    if (!list || !input) return;
    list.textContent = "";
    for (const f of input.files) {
      const li = document.createElement("li");
      li.textContent = f.name + " (" + f.size + " bytes)";
      list.appendChild(li);
    }
  }
  if (drop && input) {
    input.addEventListener("change", showFiles);
    for (const t of ["dragenter", "dragover"]) {
      drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    }
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
      if (ev.dataTransfer && ev.dataTransfer.files.length) {
        input.files = ev.dataTransfer.files;
        showFiles();
        flash(input.files.length + " file(s) ready: press “Upload and train”.");
      }
    });
  }

  async function send(url, init) {
    init.headers = Object.assign({ "X-CSRF-Token": csrf }, init.headers || {});
    init.credentials = "same-origin";
    const r = await fetch(url, init);
    if (r.status === 401) {
      window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("Your session ended; sign in again.");
    }
    const j = await r.json().catch(() => null);
    if (!r.ok) throw new Error((j && j.error && j.error.message) || ("Request failed (" + r.status + ")."));
    return j;
  }

  // `datetime-local` is the browser's local time; the API takes RFC 3339.
  function fieldValue(el) {
    const v = el.value.trim();
    if (el.dataset.time && v) return new Date(v).toISOString();
    return v;
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (form.id !== "upload-form" && !form.classList.contains("api-form")) return;
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      let done = form.dataset.done || "Done.";
      if (form.id === "upload-form") {
        const files = document.getElementById("up-files").files;
        if (!files.length) throw new Error("Choose or drop at least one log file.");
        const body = new FormData();
        for (const f of files) body.append("file", f, f.name);
        const job = await send(form.dataset.url, { method: "POST", body });
        done = done + " (job #" + job.id + ")";
      } else {
        const body = {};
        for (const el of form.elements) {
          if (!el.name) continue;
          const v = fieldValue(el);
          if (v !== "") body[el.name] = v;
        }
        const r = await send(form.dataset.url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        if (r && r.id !== undefined) done = done + " (#" + r.id + ")";
      }
      await refresh();
      flash(done);
    } catch (e) {
      if (button) button.disabled = false;
      flash(e.message, true);
    }
  });
})();
