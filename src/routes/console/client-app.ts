// @ts-nocheck -- browser code: the Worker's types have no DOM, and this function never runs in the Worker.
/**
 * The console's script, first part: signing in, calls to the admin API, the live numbers (backends, gate) and the
 * keys (create, copy once, revoke with a confirmation). It builds the page with DOM calls and textContent only,
 * never HTML from data, and keeps the admin token in this tab's sessionStorage, never in the URL, a cookie or
 * localStorage. The usage charts are `usageView` (client-usage.ts), which it is given.
 *
 * It runs in the browser, not in the Worker: the page embeds this function's source text (routes/console.ts), as
 * the bundler minified it, so it costs the Worker's bundle far less than the same script in a string would. Two
 * rules follow. It uses nothing from this module's scope. And it gives no inner function a name (no `function f`,
 * no `const f = () =>`, no `{ f: () => … }`): with keep_names the bundler wraps those in a helper that exists only
 * in the Worker's bundle. Helpers are methods (`{ f() {} }`) of `ui`; callbacks are inline arguments.
 * test/unit/console-page.test.ts checks both.
 */
export function consoleApp(usageView) {
  const TOKEN = "ollama-edge.admin-token";
  const fmt = new Intl.NumberFormat("en-US");
  /** What the banner says is wrong now: the backends' state, a failed live refresh, a failed slow one. */
  const problems = { backends: "", live: "", slow: "" };
  const state = { keys: [], models: [], health: null, gate: null, timers: [], revoking: null };
  const ui = {
    state,
    $(id) {
      return document.getElementById(id);
    },
    n(value) {
      return fmt.format(value);
    },
    count(value, word) {
      return `${fmt.format(value)} ${word}${value === 1 ? "" : "s"}`;
    },
    when(iso) {
      return iso ? new Date(iso).toLocaleString() : "never";
    },

    h(tag, props, ...kids) {
      const el = document.createElement(tag);
      for (const [name, value] of Object.entries(props || {})) {
        if (value === null || value === undefined || value === false) continue;
        if (name === "class") el.className = value;
        else el.setAttribute(name, value === true ? "" : value);
      }
      el.append(...kids.flat().filter((kid) => kid !== null && kid !== undefined && kid !== false));
      return el;
    },

    /** A call to this gateway with the admin token; a 401 signs out, since the token no longer works. */
    async api(path, init) {
      const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN)}` };
      if (init?.body) headers["content-type"] = "application/json";
      let res = null;
      try {
        res = await fetch(path, { cache: "no-store", ...init, headers });
      } catch {
        throw Object.assign(new Error("Could not reach the gateway (network error). Retrying."), { status: 0 });
      }
      const body = await res.json().catch(() => null);
      if (res.status === 401) {
        ui.signOut("The gateway refused the admin token: it is not valid, or it was changed. Sign in again.");
        throw Object.assign(new Error("not signed in"), { status: 401 });
      }
      // /health answers 503 with its report when every backend is down: that is data, not a failure.
      if (!res.ok && !(path === "/health" && body?.status)) {
        throw Object.assign(new Error(body?.error?.message || `The gateway answered HTTP ${res.status}.`), { status: res.status });
      }
      return body;
    },

    alert(kind, message) {
      problems[kind] = message || "";
      const text = Object.values(problems).filter(Boolean).join(" ");
      $("alert").textContent = text;
      $("alert").hidden = !text;
    },

    signOut(message) {
      sessionStorage.removeItem(TOKEN);
      for (const timer of state.timers) clearInterval(timer);
      state.timers = [];
      for (const kind of Object.keys(problems)) ui.alert(kind, "");
      if ($("confirm").open) $("confirm").close();
      $("dash").hidden = $("signout").hidden = true;
      $("signin").hidden = false;
      $("updated").textContent = "";
      $("signin-error").textContent = message;
      $("token").focus();
    },

    start() {
      $("signin").hidden = true;
      $("dash").hidden = $("signout").hidden = false;
      ui.live();
      ui.slow();
      // Live numbers every 5 s (/health probes are cached that long), the rest every 30 s; none in a hidden tab.
      state.timers = [setInterval(() => document.hidden || ui.live(), 5000), setInterval(() => document.hidden || ui.slow(), 30000)];
    },

    /** Each backend's health and its gate (in flight, queued). */
    async live() {
      const [health, gate] = await Promise.allSettled([ui.api("/health"), ui.api("/admin/gate")]);
      if (!sessionStorage.getItem(TOKEN)) return;
      // A failed call keeps the last numbers on screen, under the banner that says why they are not fresh.
      if (health.value) state.health = health.value;
      if (gate.value) state.gate = gate.value;
      ui.renderBackends();
      ui.alert("live", [health, gate].find((result) => result.status === "rejected")?.reason.message);
      $("updated").textContent = `Live numbers updated ${new Date().toLocaleTimeString()} (every 5 s)`;
    },

    /** The keys, then the models and the usage (whose table names the keys). */
    async slow() {
      const results = [...(await Promise.allSettled([ui.loadKeys()])), ...(await Promise.allSettled([ui.loadModels(), usage.load()]))];
      if (!sessionStorage.getItem(TOKEN)) return;
      const failed = results.find((result) => result.status === "rejected");
      ui.alert("slow", failed && `Keys, models or usage could not be loaded: ${failed.reason.message}`);
    },

    renderBackends() {
      const { health, gate } = state;
      if (!health) return;
      const overall = {
        ok: "Every backend answers.",
        degraded: "Some backends are down: their requests go to the others that have the model.",
        down: "No backend is answering: requests fail (502/503) until one is back.",
      }[health.status];
      $("overall").textContent = overall || "";
      ui.alert("backends", health.status === "ok" ? "" : overall);
      const slots = new Map((gate?.backends || []).map((entry) => [entry.backend, entry]));
      const models = new Map(state.models.map((entry) => [entry.backend, entry.models]));
      const { n } = ui;
      $("backends").replaceChildren(
        ...(health.backends || []).map((backend) => {
          const slot = slots.get(backend.name);
          const served = models.get(backend.name) || [];
          return h(
            "article",
            { class: "card", "data-backend": backend.name },
            h("div", { class: "row" }, h("h3", {}, `${backend.name} (${backend.kind})`), h("span", { class: `state ${backend.status}` }, backend.status)),
            h(
              "dl",
              {},
              ...[
                ["Latency", "latency", `${n(backend.latency_ms)} ms`],
                ["In flight", "in_flight", slot ? `${n(slot.in_flight)} of ${slot.max_concurrency ? n(slot.max_concurrency) : "no limit"}` : "unknown"],
                ["Queued", "queued", slot ? n(slot.queued) : "unknown"],
                ["Models", "models", served.length ? served.map((model) => model.name).join(", ") : "none listed"],
              ].map(([label, field, text]) => [h("dt", {}, label), h("dd", { "data-field": field }, text)]),
            ),
          );
        }),
      );
    },

    async loadModels() {
      state.models = (await ui.api("/admin/models")).data;
      const names = [...new Set(state.models.flatMap((entry) => entry.models.map((model) => model.name)))];
      $("model-names").replaceChildren(...names.map((name) => h("option", { value: name })));
      ui.renderBackends();
    },

    async loadKeys() {
      state.keys = (await ui.api("/admin/keys")).data;
      const { n, count, when } = ui;
      $("keys").replaceChildren(
        ...(state.keys.length ? [] : [h("p", { class: "muted" }, "No keys yet: create one above.")]),
        ...state.keys.map((key) => {
          const revoke = h("button", { type: "button", class: "danger", "aria-label": `Revoke key ${key.name}` }, "Revoke");
          revoke.addEventListener("click", () => ui.askRevoke(key));
          return h(
            "article",
            { class: "card", "data-key": key.id },
            h("div", { class: "row" }, h("h3", {}, key.name), h("code", {}, `${key.prefix}…`)),
            h(
              "dl",
              {},
              ...[
                ["Models", "models", key.models.length ? key.models.join(", ") : "all"],
                ["Limits", "limits", `${n(key.rpm)} requests/min, ${n(key.tpm)} tokens/min, ${n(key.max_concurrency)} at once`],
                ["Expires", "expires", when(key.expires_at)],
                ["Last used", "last_used", when(key.last_used_at)],
                [
                  "Usage",
                  "usage",
                  `${count(key.usage.requests, "request")}, ${n(key.usage.prompt_tokens)} prompt + ${n(key.usage.completion_tokens)} completion tokens`,
                ],
                ["In flight", "in_flight", n(key.in_flight)],
              ].map(([label, field, text]) => [h("dt", {}, label), h("dd", { "data-field": field }, text)]),
            ),
            revoke,
          );
        }),
      );
      const select = $("u-key");
      const chosen = select.value;
      select.replaceChildren(
        h("option", { value: "" }, "All keys"),
        ...state.keys.map((key) => h("option", { value: key.id }, `${key.name} (${key.prefix}…)`)),
      );
      select.value = state.keys.some((key) => key.id === chosen) ? chosen : "";
    },

    askRevoke(key) {
      state.revoking = key;
      $("confirm-text").textContent = `Requests with ${key.name} (${key.prefix}…) are refused from the next one on. This cannot be undone.`;
      $("confirm-error").textContent = "";
      $("confirm").showModal();
    },
  };
  const { $, h } = ui;
  const usage = usageView(ui);

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    const error = $("signin-error");
    error.textContent = "";
    let res = null;
    try {
      // The token is checked before it is kept.
      res = await fetch("/admin/gate", { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
    } catch {
      error.textContent = "Could not reach the gateway. Check the connection and try again.";
      return;
    }
    if (res.status === 401) error.textContent = "That admin token is not valid: check it against the gateway's ADMIN_TOKEN.";
    else if (!res.ok) error.textContent = `The gateway answered HTTP ${res.status}; try again.`;
    if (!res.ok) return;
    sessionStorage.setItem(TOKEN, token);
    $("token").value = "";
    ui.start();
    $("backends-h").focus();
  });

  $("signout").addEventListener("click", () => ui.signOut(""));

  $("create-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("create-error").textContent = "";
    const body = { name: $("k-name").value.trim() };
    for (const [field, id] of [
      ["rpm", "k-rpm"],
      ["tpm", "k-tpm"],
      ["max_concurrency", "k-conc"],
    ]) {
      if ($(id).value !== "") body[field] = Number($(id).value);
    }
    const models = $("k-models")
      .value.split(",")
      .map((name) => name.trim())
      .filter(Boolean);
    if (models.length) body.models = models;
    if ($("k-exp").value) body.expires_at = new Date($("k-exp").value).toISOString();
    const button = event.submitter;
    if (button) button.disabled = true;
    try {
      const created = await ui.api("/admin/keys", { method: "POST", body: JSON.stringify(body) });
      event.target.reset();
      $("secret-name").textContent = created.name;
      $("secret-value").value = created.key;
      $("copy-status").textContent = "";
      $("secret").hidden = false;
      $("copy").focus();
      ui.slow();
    } catch (failure) {
      if (failure.status !== 401) $("create-error").textContent = `The key was not created: ${failure.message}`;
    } finally {
      if (button) button.disabled = false;
    }
  });

  $("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("secret-value").value);
      $("copy-status").textContent = "Copied to the clipboard.";
    } catch {
      $("secret-value").select();
      $("copy-status").textContent = "The browser did not allow copying: the key is selected, press Ctrl+C (or Cmd+C).";
    }
  });

  $("secret-done").addEventListener("click", () => {
    $("secret-value").value = "";
    $("secret").hidden = true;
    $("k-name").focus();
  });

  $("confirm-cancel").addEventListener("click", () => $("confirm").close());

  $("confirm-ok").addEventListener("click", async () => {
    const key = state.revoking;
    $("confirm-ok").disabled = true;
    try {
      await ui.api(`/admin/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
      $("confirm").close();
      $("keys-status").textContent = `Key ${key.name} revoked.`;
      $("keys-h").focus();
      ui.slow();
    } catch (failure) {
      if (failure.status !== 401) $("confirm-error").textContent = `The key was not revoked: ${failure.message}`;
    } finally {
      $("confirm-ok").disabled = false;
    }
  });

  $("refresh").addEventListener("click", () => {
    ui.live();
    ui.slow();
  });

  if (sessionStorage.getItem(TOKEN)) ui.start();
}
