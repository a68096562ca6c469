// Sign-in: POST /api/v1/auth/login (sets the session cookie), then go to `next`.
"use strict";
(function () {
  const form = document.getElementById("login");
  const err = document.getElementById("login-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    const body = JSON.stringify({
      username: form.username.value,
      password: form.password.value,
    });
    try {
      const r = await fetch("/api/v1/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body,
      });
      if (r.ok) {
        const next = form.dataset.next || "/";
        window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
        return;
      }
      const j = await r.json().catch(() => null);
      err.textContent = r.status === 401
        ? "Wrong user name or password."
        : (j && j.error && j.error.message) || ("Sign-in failed (" + r.status + ").");
    } catch (e) {
      err.textContent = "The collector cannot be reached.";
    }
  });
})();
