// Live error stream: follows GET /api/v1/stream (Server-Sent Events) with the page's
// filters; new events go on top; Pause holds them until Resume. The browser resumes a
// dropped connection with Last-Event-ID, so nothing is lost or repeated.
"use strict";
(function () {
  const table = document.getElementById("stream");
  const rows = document.getElementById("stream-rows");
  const status = document.getElementById("stream-state");
  const pause = document.getElementById("pause");
  const d = table.dataset;
  const MAX_ROWS = 500;
  let paused = false;
  let held = [];
  let fresh = 0;

  const params = new URLSearchParams({ types: "event", min_severity: d.severity || "warn" });
  if (d.host) params.set("host", d.host);
  if (d.service) params.set("service", d.service);
  const es = new EventSource("/api/v1/stream?" + params.toString());

  const fmt = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  const say = () => {
    status.textContent = paused
      ? "Paused; " + held.length + " new events waiting."
      : "Live; " + fresh + " new events since the page loaded.";
  };

  function row(item) {
    const data = item.data || {};
    const tr = document.createElement("tr");
    tr.className = "lv-" + (data.level || "warn") + " new";
    const a = document.createElement("a");
    a.href = "/events/" + item.id;
    a.textContent = fmt(item.ts_ms);
    const line = (data.occurrences > 1) ? data.line + " (×" + data.occurrences + ")" : data.line;
    const cells = [a, item.host || "", item.service || "", data.level || "", data.class || "", line || ""];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      if (i === 5) td.className = "line";
      if (typeof c === "string") td.textContent = c; else td.appendChild(c);
      tr.appendChild(td);
    });
    return tr;
  }

  function show(item) {
    rows.insertBefore(row(item), rows.firstChild);
    while (rows.children.length > MAX_ROWS) rows.removeChild(rows.lastChild);
    const empty = document.getElementById("stream-empty");
    if (empty) empty.remove();
    fresh++;
  }

  es.addEventListener("open", () => { say(); });
  es.addEventListener("event", (ev) => {
    const item = JSON.parse(ev.data);
    if (d.class && (item.data || {}).class !== d.class) return;
    if (paused) held.push(item); else show(item);
    say();
  });
  es.addEventListener("disconnect", (ev) => {
    status.textContent = "The collector ended the stream: " + ev.data + " Reconnecting…";
  });
  es.addEventListener("error", async () => {
    if (es.readyState === EventSource.CLOSED) {
      const r = await fetch("/api/v1/auth/me", { credentials: "same-origin" }).catch(() => null);
      if (r && r.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
        return;
      }
      status.textContent = "Disconnected; reload the page to reconnect.";
    } else {
      status.textContent = "Reconnecting…";
    }
  });

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) { held.forEach(show); held = []; }
    say();
  });
})();
