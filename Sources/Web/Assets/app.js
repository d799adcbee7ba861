// Ampora web UI: the little the server-rendered pages need a script for. Pages work without
// it for reading; changes go to the REST API with the session's CSRF token.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function cookie(name) {
    const hit = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith(name + "="));
    return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
  }

  function toast(text, isError) {
    const box = $("#toast");
    if (!box) return;
    box.textContent = text;
    box.className = isError ? "error" : "";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.textContent = ""; }, 6000);
  }

  // Called before leaving for the sign-in page, so that nothing typed is lost.
  const beforeSignIn = [];

  function signInAgain() {
    beforeSignIn.forEach((save) => { try { save(); } catch (e) { /* keep going */ } });
    const next = location.pathname + location.search;
    location.assign("/login?expired=1&next=" + encodeURIComponent(next));
  }

  // A request to the API as the signed-in browser; answers {ok, status, data}.
  async function api(method, url, body, headers) {
    const options = { method, credentials: "same-origin", headers: Object.assign({}, headers || {}) };
    if (method !== "GET") options.headers["X-CSRF-Token"] = cookie("ampora_csrf");
    if (body !== undefined) {
      if (typeof body === "string") {
        options.body = body;
      } else {
        options.body = JSON.stringify(body);
        options.headers["Content-Type"] = "application/json";
      }
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (e) {
      return { ok: false, status: 0, data: { error: { message: "The server cannot be reached." } } };
    }
    if (response.status === 401) {
      signInAgain();
      return { ok: false, status: 401, data: { error: { message: "Your session has ended." } } };
    }
    const type = response.headers.get("Content-Type") || "";
    let data = null;
    if (type.includes("json")) {
      data = await response.json().catch(() => null);
    } else {
      data = await response.text();
    }
    return { ok: response.ok, status: response.status, data, headers: response.headers };
  }

  function errorText(result) {
    const e = result.data && result.data.error;
    return e ? e.message : "The request failed (" + result.status + ").";
  }

  // MARK: Action buttons (restart, publish, pause, revoke, …)
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    // The script sends it to the API itself; without the script the button posts its form.
    event.preventDefault();
    if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
    const headers = {};
    const tagged = button.closest("[data-etag]");
    if (tagged) headers["If-Match"] = '"' + tagged.dataset.etag + '"';
    button.disabled = true;
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    const result = await api(button.dataset.method || "POST", button.dataset.action, body, headers);
    button.disabled = false;
    if (!result.ok) { toast(errorText(result), true); return; }
    toast(button.textContent.trim() + ": done.");
    if (button.dataset.then) { location.assign(button.dataset.then); return; }
    if (result.status === 201 && result.data && result.data.id && button.dataset.action.includes("/rollouts/")) {
      location.assign("/rollouts/" + encodeURIComponent(result.data.id));
      return;
    }
    refresh(true);
  });

  // MARK: Sign out
  $$("form[data-logout]").forEach((form) => form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await fetch("/auth/logout", { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": cookie("ampora_csrf") } });
    location.assign("/login");
  }));

  // MARK: Live parts: refreshed from the page itself when the event stream says something moved
  let lastRefresh = 0;
  let pending = null;
  async function refresh(now) {
    if (pending && !now) return;
    const wait = now ? 0 : Math.max(0, 2000 - (Date.now() - lastRefresh));
    clearTimeout(pending);
    pending = setTimeout(async () => {
      pending = null;
      lastRefresh = Date.now();
      if (document.hidden) return;
      const response = await fetch(location.href, { credentials: "same-origin" }).catch(() => null);
      if (!response) return;
      if (response.redirected && new URL(response.url).pathname === "/login") { signInAgain(); return; }
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      $$("[data-live][id]").forEach((part) => {
        const replacement = fresh.getElementById(part.id);
        if (replacement && replacement.innerHTML !== part.innerHTML) part.innerHTML = replacement.innerHTML;
      });
      const currentActions = $(".actions[data-etag]");
      const freshActions = fresh.querySelector(".actions[data-etag]");
      if (currentActions && freshActions && !currentActions.closest("[data-live]")) currentActions.replaceWith(freshActions);
    }, wait);
  }

  const events = document.body.dataset.events;
  if (events && window.EventSource) {
    const source = new EventSource(events);
    const kinds = ["agent.connected", "agent.disconnected", "agent.health", "agent.config", "rollout.progress"];
    kinds.forEach((kind) => source.addEventListener(kind, () => refresh(false)));
    source.onerror = () => {
      // EventSource reconnects by itself; a page left without a stream still refreshes now and then.
      if (!refresh.polling) refresh.polling = setInterval(() => refresh(false), 15000);
    };
  }

  // MARK: Agents: selection and bulk restart
  const selectAll = $("[data-select-all]");
  const bulk = $("[data-bulk]");
  function selected() { return $$("input[data-uid]").filter((box) => box.checked).map((box) => box.dataset.uid); }
  function updateSelection() {
    if (!bulk) return;
    const n = selected().length;
    $("[data-selected-count]", bulk).textContent = n + " selected";
    $$("[data-bulk-command]", bulk).forEach((b) => { b.disabled = n === 0; });
  }
  if (selectAll) {
    selectAll.addEventListener("change", () => {
      $$("input[data-uid]").forEach((box) => { box.checked = selectAll.checked; });
      updateSelection();
    });
  }
  $$("input[data-uid]").forEach((box) => box.addEventListener("change", updateSelection));
  $$("[data-bulk-command]").forEach((button) => button.addEventListener("click", async () => {
    const uids = selected();
    if (!uids.length || !confirm("Restart " + uids.length + " agents?")) return;
    let failed = 0;
    for (const uid of uids) {
      const result = await api("POST", "/api/v1/agents/" + uid + "/" + button.dataset.bulkCommand);
      if (!result.ok) failed += 1;
    }
    toast((uids.length - failed) + " restarted" + (failed ? ", " + failed + " could not be" : "") + ".", failed > 0);
  }));

  const saveGroup = $("form[data-save-group]");
  if (saveGroup) {
    saveGroup.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = $("input[name=name]", saveGroup).value;
      const result = await api("PUT", "/api/v1/groups/" + encodeURIComponent(name),
        { selector: JSON.parse(saveGroup.dataset.selector) });
      if (!result.ok) { toast(errorText(result), true); return; }
      location.assign("/agents?group=" + encodeURIComponent(name));
    });
  }

  // MARK: Agent: effective config, with line numbers
  const effective = $("[data-effective-config]");
  if (effective) {
    (async () => {
      const result = await api("GET", effective.dataset.effectiveConfig);
      effective.textContent = "";
      if (result.status === 404) {
        const p = document.createElement("p");
        p.className = "muted";
        p.textContent = "This server does not show effective configs, or the agent reported none.";
        effective.append(p);
        return;
      }
      if (!result.ok) { effective.textContent = errorText(result); return; }
      const files = [];
      // `{"files": [{"name", "body" | null, "withheld"}]}`, or any object of file bodies.
      if (result.data && Array.isArray(result.data.files)) {
        result.data.files.forEach((f) => {
          files.push([f.name || "(unnamed)", typeof f.body === "string" ? f.body : "(" + (f.withheld || "not shown") + ")"]);
        });
      }
      const collect = (value, name) => {
        if (typeof value === "string") { files.push([name, value]); return; }
        if (value && typeof value === "object") {
          if (typeof value.body === "string") { files.push([name, value.body]); return; }
          Object.keys(value).sort().forEach((key) => collect(value[key], key));
        }
      };
      if (!files.length) {
        collect(typeof result.data === "string" ? result.data : (result.data.configMap || result.data), "config");
      }
      if (!files.length) { effective.textContent = "The agent reported an empty config."; return; }
      files.forEach(([name, body]) => {
        const title = document.createElement("h3");
        const code = document.createElement("code");
        code.textContent = name;
        title.append(code);
        const list = document.createElement("ol");
        list.className = "code";
        body.split("\n").forEach((line) => {
          const li = document.createElement("li");
          li.textContent = line;
          list.append(li);
        });
        effective.append(title, list);
      });
    })();
  }

  // MARK: Config editor: line numbers, lint as you type, drafts kept in this browser
  const editor = $("form[data-editor]");
  if (editor) {
    const area = $("textarea", editor);
    const gutter = $("[data-gutter]", editor);
    const status = $("[data-lint-status]", editor);
    const list = $("[data-findings]", editor);
    const fileInput = $("#file-name", editor);
    const key = "ampora.draft." + editor.dataset.config;
    const maxLint = 4 * 1024 * 1024;
    const maxGutter = 20000;
    let marks = {};

    function drawGutter() {
      const lines = Math.min(area.value.split("\n").length, maxGutter);
      const have = gutter.children.length;
      for (let i = have; i < lines; i++) {
        const li = document.createElement("li");
        li.textContent = String(i + 1);
        gutter.append(li);
      }
      for (let i = have - 1; i >= lines; i--) gutter.children[i].remove();
      Array.from(gutter.children).forEach((li, i) => { li.className = marks[i + 1] || ""; });
      gutter.scrollTop = area.scrollTop;
    }

    function goToLine(line) {
      const lines = area.value.split("\n");
      let offset = 0;
      for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
      area.focus();
      area.setSelectionRange(offset, offset + (lines[line - 1] || "").length);
      area.scrollTop = Math.max(0, (line - 3) * parseFloat(getComputedStyle(area).lineHeight));
      gutter.scrollTop = area.scrollTop;
    }

    function showFindings(findings) {
      list.textContent = "";
      marks = {};
      findings.forEach((f) => {
        if (!marks[f.line] || f.severity === "error") marks[f.line] = f.severity === "error" ? "error" : "warning";
        const li = document.createElement("li");
        li.className = f.severity === "error" ? "error" : "warning";
        const jump = document.createElement("button");
        jump.type = "button";
        jump.className = "link";
        jump.textContent = "Line " + f.line + ":" + f.column;
        jump.addEventListener("click", () => goToLine(f.line));
        const text = document.createElement("span");
        text.textContent = " " + f.severity + " — " + f.message + (f.rule ? " (" + f.rule + ")" : "");
        li.append(jump, text);
        list.append(li);
      });
      drawGutter();
    }

    const count = (n, word) => n + " " + word + (n === 1 ? "" : "s");
    let lintTimer = null;
    let lintSeq = 0;
    async function lint() {
      const text = area.value;
      if (new Blob([text]).size > maxLint) {
        status.textContent = "Too large to check: a config may have at most 4 MiB.";
        showFindings([]);
        return;
      }
      const seq = ++lintSeq;
      if (text.trim() === "") {
        status.textContent = "Type or paste a Collector config; findings appear here as you type.";
        showFindings([]);
        return;
      }
      status.textContent = "Checking…";
      const file = encodeURIComponent(fileInput.value || "config.yaml");
      const result = await api("POST", "/api/v1/lint?file=" + file, text, { "Content-Type": "text/yaml" });
      if (seq !== lintSeq) return;
      if (!result.ok) { status.textContent = errorText(result); return; }
      const findings = result.data.findings || [];
      const errors = findings.filter((f) => f.severity === "error").length;
      status.textContent = findings.length === 0 ? "No findings."
        : count(errors, "error") + ", " + count(findings.length - errors, "other finding") + ".";
      showFindings(findings);
    }

    function saveDraft() {
      try { localStorage.setItem(key, JSON.stringify({ body: area.value, file: fileInput.value, at: Date.now() })); }
      catch (e) { /* quota: a draft this large is not kept */ }
    }
    beforeSignIn.push(saveDraft);

    try {
      const kept = JSON.parse(localStorage.getItem(key) || "null");
      if (kept && typeof kept.body === "string" && kept.body !== area.value) {
        area.value = kept.body;
        if (kept.file) fileInput.value = kept.file;
        $("[data-draft-note]", editor).hidden = false;
      }
    } catch (e) { /* an unreadable draft is ignored */ }

    area.addEventListener("input", () => {
      drawGutter();
      saveDraft();
      clearTimeout(lintTimer);
      lintTimer = setTimeout(lint, 400);
    });
    area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
    editor.addEventListener("submit", async (event) => {
      event.preventDefault();
      const draft = event.submitter ? event.submitter.value === "true" : true;
      saveDraft();
      const file = fileInput.value || "config.yaml";
      const body = { files: {}, draft };
      body.files[file] = { body: area.value };
      const message = $("#message", editor).value;
      if (message) body.message = message;
      // Saved over the version the page showed, or refused (412) if someone saved one since.
      const base = parseInt(editor.dataset.baseVersion || "0", 10);
      const headers = base > 0 ? { "If-Match": '"v' + base + '"' } : {};
      const result = await api("POST", "/api/v1/configs/" + encodeURIComponent(editor.dataset.config) + "/versions",
        body, headers);
      if (result.status === 412) {
        status.textContent = "Someone saved a newer version since this page was loaded. Reload to see it; your draft is kept in this browser.";
        toast(status.textContent, true);
        return;
      }
      if (!result.ok) {
        const findings = result.data && result.data.error && result.data.error.findings;
        if (findings) showFindings(findings);
        status.textContent = errorText(result);
        toast(errorText(result), true);
        return;
      }
      localStorage.removeItem(key);
      location.assign(location.pathname + "?version=" + result.data.version);
    });
    drawGutter();
    lint();
  }

  // MARK: Rollout wizard: live matching count, then the rollout
  const wizard = $("form[data-wizard]");
  if (wizard) {
    const config = $("#w-config", wizard);
    const version = $("#w-version", wizard);
    const count = $("[data-match-count]", wizard);
    const problem = $("[data-wizard-error]", wizard);
    const pairs = (text) => {
      const out = {};
      text.split(",").map((p) => p.trim()).filter(Boolean).forEach((p) => {
        const at = p.indexOf("=");
        if (at > 0) out[p.slice(0, at).trim()] = p.slice(at + 1).trim();
      });
      return out;
    };
    const fillVersion = () => {
      const chosen = config.selectedOptions[0];
      if (chosen) version.value = chosen.dataset.version;
    };
    config.addEventListener("change", fillVersion);
    fillVersion();
    let timer = null;
    const recount = () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const group = $("#w-group", wizard).value;
        let total = null;
        if (group) {
          const r = await api("GET", "/api/v1/groups/" + encodeURIComponent(group));
          if (r.ok) total = r.data.members.total;
        } else {
          const query = new URLSearchParams({ limit: "1" });
          const selector = pairs($("#w-selector", wizard).value);
          Object.keys(selector).forEach((k) => query.set("attr." + k, selector[k]));
          const r = await api("GET", "/api/v1/agents?" + query.toString());
          if (r.ok) total = r.data.total;
        }
        count.textContent = "Matching agents: " + (total === null ? "—" : total);
      }, 300);
    };
    $("#w-group", wizard).addEventListener("change", recount);
    $("#w-selector", wizard).addEventListener("input", recount);
    recount();
    // Checked here first, so that each mistake is named at its field; the API checks again.
    const invalid = (field, text) => {
      field.setAttribute("aria-invalid", "true");
      problem.textContent = text;
      problem.hidden = false;
      field.focus();
      return null;
    };
    const stagesOf = () => {
      const field = $("#w-stages", wizard);
      const unit = $("#w-unit", wizard).value;
      const parts = field.value.split(",").map((s) => s.trim()).filter(Boolean);
      const stages = [];
      let last = 0;
      for (let i = 0; i < parts.length; i++) {
        const where = "Stage " + (i + 1) + " (" + parts[i] + "): ";
        if (unit === "count") {
          if (!/^[0-9]+$/.test(parts[i]) || parseInt(parts[i], 10) < 1) {
            return invalid(field, where + "a number of agents is a whole number of at least 1.");
          }
          stages.push({ count: parseInt(parts[i], 10) });
        } else {
          const p = /^[0-9]+(\.[0-9]+)?$/.test(parts[i]) ? parseFloat(parts[i]) : NaN;
          if (!(p > 0 && p <= 100)) return invalid(field, where + "a percentage is more than 0 and at most 100.");
          if (p < last) return invalid(field, where + "percentages grow stage by stage (it follows " + last + ").");
          last = p;
          stages.push({ percent: p });
        }
      }
      return stages;
    };
    const gateOf = (name) => {
      const field = $("#w-" + name.replace("max", "").toLowerCase(), wizard);
      const v = field.value.trim();
      if (!v) return undefined;
      if (/^[0-9]+$/.test(v)) return parseInt(v, 10);
      if (/^[0-9]+(\.[0-9]+)?%$/.test(v) && parseFloat(v) <= 100) return v;
      const label = $("label[for='" + field.id + "']", wizard).textContent;
      return invalid(field, label + ": a number of agents (3) or a percentage of the stage (5%).");
    };
    wizard.addEventListener("submit", async (event) => {
      event.preventDefault();
      problem.hidden = true;
      $$("[aria-invalid]", wizard).forEach((f) => f.removeAttribute("aria-invalid"));
      const group = $("#w-group", wizard).value;
      const stages = stagesOf();
      if (stages === null) return;
      const body = {
        config: config.value,
        version: parseInt(version.value, 10),
        target: group ? { group } : { selector: pairs($("#w-selector", wizard).value) },
        stages,
        soakSeconds: parseInt($("#w-soak", wizard).value || "0", 10),
        gates: {},
      };
      const canary = pairs($("#w-canary", wizard).value);
      if (Object.keys(canary).length) body.stages.unshift({ selector: canary });
      for (const name of ["maxFailed", "maxUnhealthy", "maxStalled"]) {
        const limit = gateOf(name);
        if (limit === null) return;
        if (limit !== undefined) body.gates[name] = limit;
      }
      const result = await api("POST", "/api/v1/rollouts", body);
      if (!result.ok) { problem.textContent = errorText(result); problem.hidden = false; return; }
      location.assign("/rollouts/" + encodeURIComponent(result.data.id));
    });
  }

  // MARK: Groups and tokens
  const groupForm = $("form[data-group-form]");
  if (groupForm) {
    groupForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const selector = {};
      $("#g-selector", groupForm).value.split(",").map((p) => p.trim()).filter(Boolean).forEach((p) => {
        const at = p.indexOf("=");
        if (at > 0) selector[p.slice(0, at).trim()] = p.slice(at + 1).trim();
      });
      const name = $("#g-name", groupForm).value;
      const result = await api("PUT", "/api/v1/groups/" + encodeURIComponent(name),
        { selector, description: $("#g-description", groupForm).value });
      const problem = $("[data-form-error]", groupForm);
      if (!result.ok) { problem.textContent = errorText(result); problem.hidden = false; return; }
      location.reload();
    });
  }
  const tokenForm = $("form[data-token-form]");
  if (tokenForm) {
    tokenForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { name: $("#t-name", tokenForm).value, role: $("#t-role", tokenForm).value };
      const days = parseInt($("#t-days", tokenForm).value, 10);
      if (days > 0) body.expiresInSeconds = days * 86400;
      const result = await api("POST", "/api/v1/access-tokens", body);
      const problem = $("[data-form-error]", tokenForm);
      if (!result.ok) { problem.textContent = errorText(result); problem.hidden = false; return; }
      $("[data-token-value]", tokenForm).textContent = result.data.token;
      $("[data-new-token]", tokenForm).hidden = false;
    });
  }
})();
