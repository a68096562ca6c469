// Shared by every page: actions through the REST API with the session's CSRF token,
// sign-out, live refresh of the page's #live region, and the host page's live tail.
// No inline script anywhere: the Content-Security-Policy forbids it.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function toLogin() {
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  function flash(text, isError) {
    const f = document.getElementById("flash");
    if (!f) return;
    f.textContent = text;
    f.classList.toggle("error", !!isError);
  }

  // Calls the API; resolves to the parsed body, or throws with the API's message.
  async function api(method, url, body) {
    const headers = { "X-CSRF-Token": csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401) {
      toLogin();
      throw new Error("Your session ended; sign in again.");
    }
    const j = await r.json().catch(() => null);
    if (!r.ok) {
      throw new Error((j && j.error && j.error.message) || ("Request failed (" + r.status + ")."));
    }
    return j;
  }
  window.fleetlogApi = api;
  window.fleetlogFlash = flash;

  // Replaces the element `id` with the same element of a fresh copy of this page.
  async function refresh(id) {
    const r = await fetch(location.href, { credentials: "same-origin" });
    if (r.redirected && new URL(r.url).pathname === "/login") return toLogin();
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.getElementById(id);
    const old = document.getElementById(id);
    if (fresh && old) old.replaceWith(fresh);
  }
  window.fleetlogRefresh = refresh;

  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.id === "logout") {
      try { await api("POST", "/api/v1/auth/logout"); } catch (e) { /* already signed out */ }
      window.location.assign("/login");
      return;
    }
    if (!b.classList.contains("act")) return;
    b.disabled = true;
    try {
      if (b.classList.contains("silence")) {
        await api("POST", "/api/v1/silences", {
          matchers: JSON.parse(b.dataset.matchers || "{}"),
          ends: String(Date.now() + 2 * 3600 * 1000),
          comment: "silenced from the dashboard",
        });
      } else {
        const body = b.dataset.body ? JSON.parse(b.dataset.body) : undefined;
        await api(b.dataset.method || "POST", b.dataset.url, body);
      }
      await refresh("main");
      flash(b.dataset.done || "Done.");
    } catch (e) {
      b.disabled = false;
      flash(e.message, true);
    }
  });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (form.classList.contains("revoke-form")) {
      ev.preventDefault();
      try {
        await api("PUT", form.dataset.url, { reason: form.reason.value });
        await refresh("main");
        flash("Agent revoked.");
      } catch (e) {
        flash(e.message, true);
      }
      return;
    }
    if (form.id !== "token-form") return;
    ev.preventDefault();
    try {
      const t = await api("POST", "/api/v1/tokens", { name: form.name.value, role: form.role.value });
      await refresh("main");
      const box = document.getElementById("token-secret");
      document.getElementById("token-value").textContent = t.token;
      box.hidden = false;
      flash("Token “" + t.name + "” created.");
    } catch (e) {
      flash(e.message, true);
    }
  });

  // Live region: re-rendered when the stream reports a change, and every
  // `data-refresh` seconds as the freshest copy says (a page with running work asks for
  // a short period).
  const live = document.getElementById("live");
  if (live) {
    let pending = null;
    const busy = () => {
      const now = document.getElementById("live");
      return now && now.contains(document.activeElement) && document.activeElement.matches("input, select");
    };
    const soon = () => {
      if (pending) return;
      pending = setTimeout(() => { pending = null; if (!busy()) refresh("live").catch(() => {}); }, 1500);
    };
    const period = () => Number((document.getElementById("live") || live).dataset.refresh || 0);
    let last = Date.now();
    setInterval(() => {
      const every = period();
      if (every > 0 && Date.now() - last >= every * 1000) { last = Date.now(); soon(); }
    }, 1000);
    if (live.dataset.stream && window.EventSource) {
      const es = new EventSource("/api/v1/stream?types=" + encodeURIComponent(live.dataset.stream));
      for (const t of live.dataset.stream.split(",")) es.addEventListener(t, soon);
    }
  }

  // Host page: live tail of raw lines through GET /api/v1/lines.
  const tail = document.getElementById("tail");
  if (tail) {
    let timer = null;
    let cursor = tail.dataset.cursor || "";
    let shown = Number(tail.dataset.shown || 0);
    const limit = Number(tail.dataset.limit || 100);
    const body = document.getElementById("lines");
    const fmt = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
    async function poll() {
      for (let i = 0; i < 20; i++) {
        const q = "/api/v1/lines?host=" + encodeURIComponent(tail.dataset.host) + "&limit=" + limit +
          (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
        const page = await api("GET", q);
        for (const l of page.lines.slice(shown)) {
          const tr = document.createElement("tr");
          tr.className = "lv-" + l.level;
          for (const [cls, text] of [["ts", fmt(l.ts_ms)], ["src", l.source], ["line", l.line]]) {
            const td = document.createElement("td");
            td.className = cls;
            td.textContent = text;
            tr.appendChild(td);
          }
          body.appendChild(tr);
          tr.scrollIntoView({ block: "nearest" });
        }
        if (!page.next_cursor) { shown = page.lines.length; return; }
        cursor = page.next_cursor;
        shown = 0;
      }
    }
    tail.addEventListener("click", () => {
      const on = tail.getAttribute("aria-pressed") !== "true";
      tail.setAttribute("aria-pressed", String(on));
      tail.textContent = on ? "Stop tail" : "Live tail";
      if (on) {
        const tick = () => poll().catch((e) => flash(e.message, true)).finally(() => {
          if (tail.getAttribute("aria-pressed") === "true") timer = setTimeout(tick, 3000);
        });
        tick();
      } else if (timer) {
        clearTimeout(timer);
      }
    });
  }
})();
