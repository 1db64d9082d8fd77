"use strict";
// Vigil's review desk. Every value from the API reaches the page through the DOM API (textContent,
// attributes set one by one), never through HTML built from strings: a case's content stays text.
// What a person may do with a case (decide, appeal, claim, retry) is what the server says in
// may_*; the page never re-derives a rule of the server.

const POLL_MS = 5000;
const PAGE_SIZE = 100;
const KEY_STORE = "vigil-key";
// Which lists each role works on; the first is its default view.
const VIEWS = {
  moderator: ["awaiting_review"],
  supervisor: ["awaiting_review", "closed", ""],
  admin: ["failed", "awaiting_review", ""],
};
// Who sees the machine's accuracy (GET /v1/qa/accuracy), over how many days, refreshed how often.
const OVERSEERS = ["supervisor", "admin"];
const ACCURACY_DAYS = 28;
const ACCURACY_MS = 60_000;
// A QA reviewer's choices (POST /v1/qa/{sample}/decision): a violation is named unless dismiss.
const QA_DECISIONS = ["dismiss", "warn", "remove", "remove_and_ban"];
const QA_VIOLATIONS = ["abuse", "spam", "credential_leak", "personal_data", "other"];
const QA_NOTE = "Samples are drawn at random from closed cases and reviewed blind: you see the content, never what "
  + "the machine or a moderator decided. Decide it as you would a new case.";
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

const NARROW = window.matchMedia("(max-width: 820px)");  // one column: the case sits under the queue
const $ = (id) => document.getElementById(id);
const state = { me: null, view: null, items: [], next: null, pages: 1, selected: null, shown: "", formKey: null, formSeq: 0,
                sample: null, accuracyAt: 0, accuracyShown: "" };

// ---------------------------------------------------------------- DOM helpers
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));  // a string becomes a text node
  }
  return node;
}

// Replaces a node's children; like append, it skips the null of a part that is not there.
function fill(node, children) {
  node.replaceChildren();
  return append(node, children);
}

// Text from outside (ids, authors, names): isolated so a direction override cannot spill out.
const iso = (value, cls) => el("bdi", { class: cls }, value ?? "");
const words = (value) => String(value ?? "").replaceAll("_", " ");
const tag = (text, cls = "") => el("span", { class: `tag ${cls}` }, text);

function duration(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d) return `${d}d ${h % 24}h`;
  if (h) return `${h}h ${m % 60}m`;
  return `${m}m`;
}

const when = (iso) => iso ? new Date(iso).toLocaleString() : "";

// Age against the deadline, as colour (class) and words.
function deadline(item, now = Date.now()) {
  const waited = `waited ${duration(now - Date.parse(item.created_at))}`;
  if (!item.due_at) return { cls: "", text: waited };
  const left = Date.parse(item.due_at) - now;
  const span = Date.parse(item.due_at) - Date.parse(item.created_at);
  if (left < 0) return { cls: "late", text: `${waited} · overdue by ${duration(left)}` };
  if (left < span / 4) return { cls: "soon", text: `${waited} · due in ${duration(left)}` };
  return { cls: "ontime", text: `${waited} · due in ${duration(left)}` };
}

function claimText(claim) {
  if (!claim) return null;
  if (state.me && claim.by === state.me.name) return el("span", { class: "claim-mine" }, "claimed by you");
  return el("span", {}, "claimed by ", iso(claim.by));
}

// ---------------------------------------------------------------- API
class ApiError extends Error {
  constructor(status, message) { super(`${status}: ${message}`); this.status = status; }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { "X-API-Key": sessionStorage.getItem(KEY_STORE) || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, cache: "no-store",
                                       body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.message || response.statusText);
  return data;
}

// The outcome of the last thing the person did: it stays until they do something else.
function say(kind, ...parts) {
  const box = $("message");
  box.className = `message ${kind}`;
  box.replaceChildren(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(String(p)))));
}
const quiet = () => say("");

// ---------------------------------------------------------------- signing in
async function signIn() {
  const key = $("key").value.trim();
  state.me = null; state.selected = null; state.items = []; state.shown = ""; state.formKey = null; state.sample = null;
  $("case").replaceChildren(el("p", { class: "muted" }, "Take the next case, or pick one from the queue."));
  if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
  $("key").value = "";
  await start();
}

async function start() {
  $("who").replaceChildren();
  $("queue").replaceChildren();
  $("next").disabled = true;
  $("view").disabled = true;
  setMode(null);
  if (!sessionStorage.getItem(KEY_STORE)) {
    showSignedIn(false);
    $("queue-note").textContent = "Sign in with your key to see the queue.";
    return;
  }
  try { state.me = await api("/v1/me"); }
  catch (error) { say("error", `Sign-in failed: ${error.message}`); $("queue-note").textContent = "Not signed in."; return; }
  showSignedIn(true);
  $("who").replaceChildren(iso(state.me.name), ` · ${state.me.role}`);
  setMode(state.me.role);
  if (state.me.role === "qa") {
    $("queue-note").textContent = QA_NOTE;
    $("next").disabled = false;
    if (!state.sample) $("case").replaceChildren(el("p", { class: "muted" }, "Take the next sample: the Next case button, or n."));
    return;
  }
  if (OVERSEERS.includes(state.me.role)) loadAccuracy();
  const views = VIEWS[state.me.role];
  if (!views) { $("queue-note").textContent = "This key cannot list cases (upstream keys post them)."; return; }
  $("view").replaceChildren(...views.map((v) => el("option", { value: v }, v ? words(v) : "all")));
  $("view").disabled = false;
  $("next").disabled = false;
  state.view = views[0];
  await loadQueue();
}

// What the queue panel and the accuracy panel show for a role (null: signed out).
function setMode(role) {
  const qa = role === "qa";
  $("queue-name").textContent = qa ? "Quality review" : "Queue";
  $("queue-filter").hidden = qa;
  $("queue").hidden = qa;
  $("count").textContent = "";
  $("more").hidden = true;
  $("next").title = qa ? "Take the next sample to review, blind (n)" : "Claim the most urgent case you may decide (n)";
  const overseer = OVERSEERS.includes(role);
  $("accuracy").hidden = !overseer;
  if (!overseer) {
    state.accuracyShown = ""; state.accuracyAt = 0;
    $("accuracy-body").replaceChildren(el("p", { class: "muted" }, "Loading…"));
  }
}

function showSignedIn(yes) {
  for (const part of $("login").querySelectorAll("label, input, button[type=submit]")) part.hidden = yes;
  $("logout").hidden = !yes;
}

function signOut() {
  sessionStorage.removeItem(KEY_STORE);
  state.me = null; state.selected = null; state.items = []; state.sample = null;
  $("case").replaceChildren(el("p", { class: "muted" }, "Signed out."));
  quiet();
  start();
}

// ---------------------------------------------------------------- the queue
async function fetchPage(cursor) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (state.view) query.set("status", state.view);
  if (cursor) query.set("cursor", cursor);
  return api(`/v1/cases?${query}`);
}

// Reloads as many pages as the person has opened, so polling never shortens a long list.
async function loadQueue() {
  if (!state.me || !VIEWS[state.me.role]) return;
  const view = state.view;
  try {
    let page = await fetchPage(null);
    const items = [...page.items];
    for (let n = 1; n < state.pages && page.next; n++) {
      page = await fetchPage(page.next);
      items.push(...page.items);
    }
    if (view !== state.view) return;
    state.items = items; state.next = page.next;
    drawQueue();
  } catch (error) { $("queue-note").textContent = `Could not load the queue: ${error.message}`; }
}

async function showMore() {
  if (!state.next) return;
  quiet();
  try {
    const page = await fetchPage(state.next);
    state.items.push(...page.items); state.next = page.next; state.pages += 1;
    drawQueue();
  } catch (error) { say("error", `Could not load more: ${error.message}`); }
}

function drawQueue() {
  const focused = document.activeElement?.closest?.("#queue .item")?.dataset.id;
  const now = Date.now();
  $("queue").replaceChildren(...state.items.map((item) => {
    const due = deadline(item, now);
    const button = el("button", { type: "button", class: "item", "data-id": item.case_id,
                                  "aria-current": item.case_id === state.selected ? "true" : "false",
                                  onclick: () => select(item.case_id) },
      el("span", { class: "line" },
        item.priority !== undefined && item.priority !== null
          ? tag(`P${item.priority}`, `prio ${item.due_at && Date.parse(item.due_at) < now ? "urgent" : ""}`) : null,
        iso(item.external_id, "ext")),
      el("span", { class: "line" },
        tag(item.category ? `${words(item.category)} · ${item.severity}` : "not analysed", item.severity || ""),
        tag(words(item.status), item.status), el("span", { class: "muted" }, `round ${item.review_round}`),
        item.actions_refused ? tag("action refused", "failed") : null),
      el("span", { class: "line" }, tag(due.text, `due ${due.cls}`), claimText(item.claim)));
    return el("li", {}, button);
  }));
  if (focused) document.querySelector(`#queue .item[data-id="${CSS.escape(focused)}"]`)?.focus();
  $("count").textContent = `(${state.items.length}${state.next ? "+" : ""})`;
  $("queue-note").textContent = state.items.length ? "" : "Nothing here.";
  $("more").hidden = !state.next;
}

function moveInQueue(step) {
  const buttons = [...document.querySelectorAll("#queue .item")];
  if (!buttons.length) return;
  const at = buttons.findIndex((b) => b === document.activeElement || b.dataset.id === state.selected);
  const target = buttons[Math.max(0, Math.min(buttons.length - 1, at < 0 ? 0 : at + step))];
  target.focus();
  select(target.dataset.id);
}

// ---------------------------------------------------------------- one case
async function select(caseId) {
  quiet();
  state.selected = caseId; state.shown = ""; state.formKey = null;
  for (const b of document.querySelectorAll("#queue .item")) b.setAttribute("aria-current", b.dataset.id === caseId ? "true" : "false");
  $("case").replaceChildren(el("p", { class: "muted" }, "Loading…"));
  await loadCase();
  if (NARROW.matches) $("case").scrollIntoView({ block: "start" });
}

async function nextCase() {
  if (!state.me) return;
  if (state.me.role === "qa") { await nextSample(); return; }
  quiet();
  try {
    const found = await api("/v1/queue/next", { method: "POST" });
    if (!found) { say("success", "Nothing left for you in the queue."); return; }
    state.selected = found.case_id; state.shown = ""; state.formKey = null;
    await loadCase();
    loadQueue();
    // Focus goes to the form, so digits and Ctrl+Enter work at once; the view stays on the case's top.
    const first = document.querySelector("#case form.decide input, #case form.decide select, #case form.decide textarea");
    (first || $("case")).focus({ preventScroll: true });
    if (NARROW.matches) $("case").scrollIntoView({ block: "start" });
  } catch (error) { say("error", `Next case: ${error.message}`); }
}

async function loadCase() {
  const id = state.selected;
  if (!id) return;
  let c, events;
  try { [c, events] = await Promise.all([api(`/v1/cases/${id}`), api(`/v1/cases/${id}/events`)]); }
  catch (error) {
    if (id === state.selected) $("case").replaceChildren(el("p", { class: "error" }, `Could not load the case: ${error.message}`));
    return;
  }
  if (id !== state.selected) return;  // the person moved on while this was loading
  const seen = JSON.stringify([c, events]);
  if (seen === state.shown) return;  // polling: nothing changed, keep the page as it is
  state.shown = seen;
  drawCase(c, events);
}

function highlighted(text, triggers) {
  // Mark every occurrence of each triggering phrase; redacted phrases (with "…") cannot be found.
  const ranges = [];
  for (const phrase of triggers || []) {
    if (typeof phrase !== "string" || !phrase.trim() || phrase.includes("…")) continue;
    for (let at = text.indexOf(phrase); at >= 0; at = text.indexOf(phrase, at + phrase.length)) ranges.push([at, at + phrase.length]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const parts = [];
  let done = 0;
  for (const [from, to] of ranges) {
    if (to <= done) continue;
    const start = Math.max(from, done);
    if (start > done) parts.push(text.slice(done, start));
    parts.push(el("mark", {}, text.slice(start, to)));
    done = to;
  }
  parts.push(text.slice(done));
  return parts;
}

function drawCase(c, events) {
  const box = $("case");
  const a = c.analysis || {};
  const text = String(c.content?.text ?? "");
  const formKey = c.may_decide && c.review ? `${c.case_id}:${c.review.round}:${c.review.attempt}` : null;
  // The decision form survives polling only while it is the same review of the same case.
  const keptForm = formKey && formKey === state.formKey ? box.querySelector("form.decide") : null;
  state.formKey = formKey;
  const bidi = text.match(BIDI_CONTROLS);
  const due = c.status === "awaiting_review" ? deadline(c) : null;

  const head = el("div", { class: "case-head" },
    el("h2", { id: "case-title" }, iso(c.external_id)),
    tag(words(c.status), c.status), el("span", { class: "muted" }, `round ${c.review_round}`),
    c.priority !== undefined && c.priority !== null ? tag(`priority ${c.priority}`, "prio") : null,
    due ? tag(due.text, `due ${due.cls}`) : null);

  const claimBits = [];
  if (c.claim) claimBits.push(claimText(c.claim), el("span", {}, `until ${new Date(c.claim.expires_at).toLocaleTimeString()}`));
  if (c.claim && state.me && c.claim.by === state.me.name)
    claimBits.push(el("button", { type: "button", onclick: () => release(c.case_id) }, "Release"));
  else if (c.may_claim)
    claimBits.push(el("button", { type: "button", onclick: () => claim(c.case_id) }, "Claim"));

  const meta = el("div", { class: "meta" },
    el("span", {}, "by ", iso(c.content?.author_id)), el("span", {}, `received ${when(c.created_at)}`), ...claimBits);

  const content = [
    el("h3", {}, "Content ", el("span", { class: "muted" }, `${text.length.toLocaleString()} characters`)),
    el("div", { class: "content", dir: "auto", "aria-label": "Content of the case", id: "case-text" }, highlighted(text, a.triggers)),
    bidi ? el("p", { class: "warning" }, `Contains ${bidi.length} hidden direction control character(s): the text may read differently than it looks.`) : null,
  ];

  const analysis = c.analysis ? [
    el("h3", {}, "Analysis"),
    el("div", { class: "columns" },
      el("dl", { class: "facts" },
        el("dt", {}, "category"), el("dd", {}, tag(words(a.category), a.severity || "")),
        el("dt", {}, "severity"), el("dd", {}, words(a.severity)),
        el("dt", {}, "confidence"), el("dd", {}, a.confidence !== undefined ? `${Math.round(a.confidence * 100)}%` : "—"),
        el("dt", {}, "suggests"), el("dd", {}, el("b", {}, words(a.suggested_decision))),
        el("dt", {}, "by"), el("dd", {}, iso(a.source)),
        a.stage ? [el("dt", {}, "decided by"), el("dd", {}, `${a.stage === "encoder" ? "the encoder" : "the fast model"} `,
          el("span", { class: "muted" }, iso(a.models?.[a.stage] || "")))] : null),
      scores(a.scores)),
    a.reasons?.length ? el("ul", { class: "reasons" }, a.reasons.map((r) => el("li", {}, iso(r)))) : null,
    a.triggers?.length ? el("p", { class: "muted" }, `${a.triggers.length} triggering phrase(s) marked in the text.`) : null,
  ] : [el("p", { class: "muted" }, "Not analysed yet.")];

  const work = [];
  if (c.error) work.push(el("p", { class: "error" }, `Failed at ${c.error.step ?? "a step"}: `, iso(c.error.message)));
  if (formKey) work.push(keptForm || decisionForm(c));
  else if (c.review) work.push(el("p", { class: "muted" }, c.claim && state.me && c.claim.by !== state.me.name
    ? "Awaiting review; someone else holds the claim." : `Awaiting review (round ${c.review.round}); not yours to decide.`));
  if (c.may_appeal) work.push(appealForm(c));
  else if (c.status === "closed" && (c.final_at || (c.appealable_until && Date.parse(c.appealable_until) <= Date.now())))
    work.push(el("p", { class: "muted window-closed" }, `Final: the appeal window closed on ${when(c.appealable_until || c.final_at)}.`));
  if (c.may_retry) work.push(el("div", { class: "retry" },
    el("button", { type: "button", class: "primary", onclick: (e) => command(e.target, c, "retry", {}, "Retry") }, "Retry from the last checkpoint")));

  // Moving the kept form detaches it for a moment: put the caret back where the person was typing.
  const active = keptForm && keptForm.contains(document.activeElement) ? document.activeElement : null;
  const caret = active && "selectionStart" in active ? [active.selectionStart, active.selectionEnd] : null;
  box.replaceChildren();
  append(box, [head, meta, content, analysis, work, history(c, events)]);
  if (active) { active.focus({ preventScroll: true }); if (caret) try { active.setSelectionRange(...caret); } catch { /* radios */ } }
}

function scores(values) {
  const entries = Object.entries(values || {}).filter(([, v]) => typeof v === "number");
  if (!entries.length) return null;
  return el("div", { class: "scores", role: "group", "aria-label": "scores" },
    entries.map(([name, v]) => {
      const id = `score-${name}`;
      return [el("label", { for: id }, words(name)), el("meter", { id, min: 0, max: 1, value: v }), el("span", {}, v.toFixed(2))];
    }));
}

// ---------------------------------------------------------------- forms
function orderedFields(schema) {
  // JSONB keeps no key order: required fields first, then by name.
  const required = schema.required || [];
  return Object.entries(schema.properties || {}).sort(([a], [b]) =>
    (required.includes(b) - required.includes(a)) || a.localeCompare(b));
}

function field(prefix, name, spec, required, allowed) {
  const id = `${prefix}-${name}`;
  const title = `${spec.title || words(name)}${required ? " (required)" : ""}`;
  const hintId = spec.description ? `${id}-hint` : null;
  const hint = hintId ? el("p", { class: "hint", id: hintId }, spec.description) : null;
  if (spec.enum && name === "decision") {
    // Radios numbered 1-9 so a decision is one key press away.
    const choices = spec.enum.filter((v) => allowed.includes(v));
    return el("fieldset", { class: "field", "aria-describedby": hintId },
      el("legend", {}, title),
      el("div", { class: "choices" }, choices.map((value, i) => el("label", { class: "choice" },
        el("input", { type: "radio", name, value, required, checked: value === spec.default, "data-shortcut": i < 9 ? String(i + 1) : null }),
        i < 9 ? el("kbd", {}, String(i + 1)) : null, words(value)))),
      hint);
  }
  let input;
  if (spec.enum) input = el("select", { id, name, required }, spec.enum.map((v) => el("option", { value: v, selected: v === spec.default }, words(v))));
  else if (spec.type === "boolean") {
    return el("div", { class: "field" }, el("label", {}, el("input", { type: "checkbox", id, name, "aria-describedby": hintId }), ` ${title}`), hint);
  } else if (spec.type === "integer" || spec.type === "number") input = el("input", { type: "number", id, name, required });
  else input = el("textarea", { id, name, rows: 3, required, maxlength: spec.maxLength });
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return el("div", { class: "field" }, el("label", { for: id }, title), input, hint);
}

function formValues(form, schema) {
  const body = {};
  for (const [name, spec] of Object.entries(schema.properties || {})) {
    const input = form.elements[name];
    if (!input) continue;
    if (spec.type === "boolean") body[name] = input.checked;
    else if (input.value !== "") body[name] = (spec.type === "integer" || spec.type === "number") ? Number(input.value) : input.value;
  }
  return body;
}

// Who brought an appeal: a supervisor, or the complainant a platform forwarded, with what they contest.
function appealedBy(p) {
  return p.source && p.source !== "supervisor" ? `A complaint by the ${words(p.source)} (${words(p.basis)})`
    : "A supervisor's appeal";
}

function decisionForm(c) {
  const review = c.review;
  const schema = review.decision_schema || { properties: {} };
  const required = schema.required || [];
  const prefix = `f${++state.formSeq}`;
  const appeal = (c.appeals || []).find((p) => p.round === review.round - 1);
  const form = el("form", { class: "decide", "aria-label": `Decision on case ${c.external_id}` },
    el("h3", {}, `Your decision, round ${review.round}`),
    appeal ? el("p", { class: "appealed" }, `${appealedBy(appeal)}: `, el("q", {}, iso(appeal.reason))) : null,
    orderedFields(schema).map(([name, spec]) => field(prefix, name, spec, required.includes(name), review.allowed_decisions || [])),
    el("div", { class: "form-actions" }, el("button", { type: "submit", class: "primary" }, "Submit decision ", el("kbd", {}, "Ctrl+Enter"))));
  // The case this form was built for is fixed here: a form can never decide another case.
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    command(form.querySelector("button[type=submit]"), c, "resume", formValues(form, schema), "Decision");
  });
  return form;
}

function appealForm(c) {
  const id = `appeal-${++state.formSeq}`;
  const form = el("form", { class: "appeal", "aria-label": "Appeal" },
    el("h3", {}, "Appeal"),
    el("p", { class: "hint" }, "Reverses what was executed and reopens the case for a second review by another supervisor.",
      c.appealable_until ? ` Open until ${when(c.appealable_until)}.` : null),
    el("div", { class: "field" }, el("label", { for: id }, "Reason (required)"),
      el("textarea", { id, name: "reason", rows: 2, maxlength: 2000, required: true })),
    el("div", { class: "form-actions" }, el("button", { type: "submit", class: "danger" }, "Appeal and roll back")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    command(form.querySelector("button[type=submit]"), c, "rollback", { reason: form.elements.reason.value }, "Appeal");
  });
  return form;
}

async function command(button, c, verb, body, what) {
  quiet();
  button.disabled = true;
  try {
    await api(`/v1/cases/${c.case_id}/${verb}`, { method: "POST", body });
    const decision = body.decision ? ` “${words(body.decision)}”` : "";
    say("success", `${what}${decision} on `, iso(c.external_id), " accepted; the worker carries it out.");
    button.closest("form, .retry")?.remove();
    state.formKey = null;
  } catch (error) {
    say("error", `${what} on `, iso(c.external_id), ` refused: ${error.message}`);
    button.disabled = false;
  }
  state.shown = "";
  await Promise.all([loadCase(), loadQueue()]);
}

async function claim(caseId) {
  quiet();
  try {
    const lease = await api(`/v1/cases/${caseId}/claim`, { method: "POST" });
    say("success", `Claimed until ${new Date(lease.expires_at).toLocaleTimeString()}.`);
  } catch (error) { say("error", `Claim refused: ${error.message}`); }
  state.shown = "";
  await Promise.all([loadCase(), loadQueue()]);
}

async function release(caseId) {
  quiet();
  try { await api(`/v1/cases/${caseId}/claim`, { method: "DELETE" }); say("success", "Claim released."); }
  catch (error) { say("error", `Release refused: ${error.message}`); }
  state.shown = "";
  await Promise.all([loadCase(), loadQueue()]);
}

// ---------------------------------------------------------------- history
function table(caption, head, rows) {
  if (!rows.length) return [el("h3", {}, caption), el("p", { class: "muted" }, "None.")];
  return [el("h3", {}, caption), el("table", {},
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((cell) => el("td", {}, cell))))))];
}

function history(c, events) {
  const parts = [
    ...table("Decisions", ["round", "decision", "by", "note", "when"], (c.decisions || []).map((d) =>
      [`${d.round}.${d.attempt}`, words(d.decision), iso(d.decided_by), iso(d.note ?? ""), when(d.created_at)])),
  ];
  if (c.appeals?.length) parts.push(...table("Appeals", ["round", "from", "by", "reason", "when"], c.appeals.map((p) =>
    [String(p.round), appealedBy(p), iso(p.filed_by), iso(p.reason), when(p.created_at)])));
  parts.push(...table("Actions on the platform", ["round", "action", "target", "status"], (c.actions || []).map((x) =>
    [String(x.round), `${words(x.kind)}${x.reverses_id ? " (reversal)" : ""}`, iso(x.target_id),
     [x.status, x.last_error ? el("span", { class: "muted" }, " ", iso(x.last_error)) : null]])));
  parts.push(el("h3", {}, "Audit trail"), events.length ? el("ol", { class: "timeline" }, events.map((e) => {
    const data = e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : "";
    return el("li", {},
      el("time", { datetime: e.at }, new Date(e.at).toLocaleTimeString()),
      el("b", {}, words(e.event)), " by ", iso(e.actor),
      e.to_status ? el("span", { class: "muted" }, ` · ${words(e.from_status || "—")} → ${words(e.to_status)}`) : null,
      data ? el("div", { class: "data" }, iso(data.length > 300 ? `${data.slice(0, 300)}…` : data)) : null);
  })) : el("p", { class: "muted" }, "Nothing yet."));
  return parts;
}

// ---------------------------------------------------------------- quality review (role qa)
// A sample is shown blind: the payload carries the content and its context, no verdict, and the
// page shows nothing else of the case.
function qaEmpty(text) {
  state.sample = null;
  $("case").replaceChildren(el("p", { class: "muted qa-empty" }, text));
}

// `after`: the outcome of the decision just recorded, which stays on screen.
async function nextSample(after = null) {
  const me = state.me;
  if (!after) quiet();
  try {
    const sample = await api("/v1/qa/next", { method: "POST" });
    if (me !== state.me) return;
    if (!sample) {
      qaEmpty("No sample waits for review.");
      if (!after) say("success", "No sample waits for review.");
      return;
    }
    state.sample = sample;
    drawSample(sample);
    $("case").querySelector("form.decide input")?.focus({ preventScroll: true });
    if (NARROW.matches) $("case").scrollIntoView({ block: "start" });
  } catch (error) {
    if (me !== state.me) return;
    say("error", after ? `${after} ` : "", `Next sample: ${error.message}`);
  }
}

function showHold(sample) {
  const hold = $("qa-hold");
  if (!hold) return;
  const until = new Date(sample.claim_expires_at).toLocaleTimeString();
  const held = Date.parse(sample.claim_expires_at) > Date.now();
  hold.className = held ? "claim-mine" : "warning";
  hold.textContent = held ? `held for you until ${until}` : `your hold ran out at ${until}: take the next sample (n)`;
}

function drawSample(sample) {
  const text = String(sample.content?.text ?? "");
  const bidi = text.match(BIDI_CONTROLS);
  const head = el("div", { class: "case-head" },
    el("h2", { id: "case-title" }, "Sample for quality review"), tag("blind review", "blind"));
  const meta = el("div", { class: "meta" },
    el("span", {}, "tenant ", iso(sample.tenant)), el("span", {}, "by ", iso(sample.content?.author_id)),
    el("span", {}, `received ${when(sample.received_at)}`), el("span", { id: "qa-hold" }));
  fill($("case"), [head, meta,
    el("h3", {}, "Content ", el("span", { class: "muted" }, `${text.length.toLocaleString()} characters`)),
    el("div", { class: "content", dir: "auto", "aria-label": "Content of the sample", id: "case-text" }, text),
    bidi ? el("p", { class: "warning" }, `Contains ${bidi.length} hidden direction control character(s): the text may read differently than it looks.`) : null,
    sample.content?.redacted ? el("p", { class: "hint" }, "Secrets and personal data are masked, as a moderator sees them.") : null,
    qaForm(sample)]);
  showHold(sample);
}

function qaForm(sample) {
  const prefix = `q${++state.formSeq}`;
  const violation = el("select", { id: `${prefix}-violation`, name: "violation", required: true },
    el("option", { value: "" }, "choose…"), QA_VIOLATIONS.map((v) => el("option", { value: v }, words(v))));
  const violationField = el("div", { class: "field" },
    el("label", { for: violation.id }, "Violation (required unless dismiss)"), violation);
  const note = el("textarea", { id: `${prefix}-note`, name: "note", rows: 3, maxlength: 2000 });
  const form = el("form", { class: "decide qa", "aria-label": "Quality review decision" },
    el("h3", {}, "Your decision"),
    el("fieldset", { class: "field" }, el("legend", {}, "Decision (required)"),
      el("div", { class: "choices" }, QA_DECISIONS.map((value, i) => el("label", { class: "choice" },
        el("input", { type: "radio", name: "decision", value, required: true, "data-shortcut": String(i + 1) }),
        el("kbd", {}, String(i + 1)), words(value))))),
    violationField,
    el("div", { class: "field" }, el("label", { for: note.id }, "Note (optional)"), note),
    el("div", { class: "form-actions" },
      el("button", { type: "submit", class: "primary" }, "Record decision ", el("kbd", {}, "Ctrl+Enter"))));
  // A dismissal names no violation: the select leaves the form (and its check) while dismiss is chosen.
  form.addEventListener("change", () => {
    const dismiss = form.elements.decision.value === "dismiss";
    violationField.hidden = dismiss;
    violation.disabled = dismiss;
  });
  // The sample this form was built for is fixed here: a form can never decide another sample.
  form.addEventListener("submit", (event) => { event.preventDefault(); recordSample(form, sample); });
  return form;
}

async function recordSample(form, sample) {
  const button = form.querySelector("button[type=submit]");
  const decision = form.elements.decision.value;
  const body = { decision };
  if (decision !== "dismiss") body.violation = form.elements.violation.value;
  if (form.elements.note.value.trim()) body.note = form.elements.note.value;
  quiet();
  button.disabled = true;
  try {
    const done = await api(`/v1/qa/${encodeURIComponent(sample.sample_id)}/decision`, { method: "POST", body });
    if (sample !== state.sample) return;
    const outcome = done.reopened ? "Recorded. It had closed on its own and now goes to a moderator." : "Recorded.";
    say("success", outcome);
    await nextSample(outcome);
  } catch (error) {
    if (sample !== state.sample) return;
    say("error", `Decision refused: ${error.message}`);
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- machine accuracy (supervisors, admins)
const utcDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const percent = (x) => (x * 100).toFixed(1);
const signed = (x) => x.toFixed(2).replace("-", "\u2212");

function rateCell(f) {
  if (!f || f.rate === null || f.rate === undefined) return el("span", { class: "muted" }, "—");
  return [el("b", {}, `${percent(f.rate)}%`), " ", el("span", { class: "ci" }, `(${percent(f.ci95_low)}–${percent(f.ci95_high)}%)`),
          " ", el("span", { class: "n" }, `· n=${f.reviewed}`)];
}

function kappaCell(f) {
  if (!f || f.kappa === null || f.kappa === undefined)
    return [el("span", { class: "muted" }, "—"), f?.pairs ? el("span", { class: "n" }, ` · n=${f.pairs}`) : null];
  return [el("b", {}, signed(f.kappa)), " ", el("span", { class: "ci" }, `(${signed(f.ci95_low)}–${signed(f.ci95_high)})`),
          " ", el("span", { class: "n" }, `· n=${f.pairs}`)];
}

async function loadAccuracy() {
  const me = state.me;
  if (!me || !OVERSEERS.includes(me.role)) return;
  state.accuracyAt = Date.now();
  const to = utcDay(Date.now()), from = utcDay(Date.now() - (ACCURACY_DAYS - 1) * 86_400_000);
  let data;
  try { data = await api(`/v1/qa/accuracy?${new URLSearchParams({ from, to })}`); }
  catch (error) {
    if (me !== state.me) return;
    state.accuracyShown = "";
    $("accuracy-body").replaceChildren(el("p", { class: "error" }, `Could not load the figures: ${error.message}`));
    return;
  }
  if (me !== state.me) return;
  const seen = JSON.stringify([from, to, data]);
  if (seen === state.accuracyShown) return;  // nothing changed: keep the table as it is
  state.accuracyShown = seen;
  drawAccuracy(data, from, to);
}

function drawAccuracy(data, from, to) {
  const row = (label, f) => el("tr", {}, el("th", { scope: "row" }, label),
    el("td", {}, rateCell(f.miss_rate)), el("td", {}, rateCell(f.false_alarm_rate)), el("td", {}, kappaCell(f.agreement)));
  const groups = [["Tenant", data.by_tenant], ["Model", data.by_model], ["Week of closing", data.by_week]];
  const overall = data.overall || {};
  const none = !overall.miss_rate?.reviewed && !overall.false_alarm_rate?.reviewed;
  fill($("accuracy-body"), [
    el("table", { class: "rates" },
      el("caption", {}, `Blind quality reviews of the cases closed from ${from} to ${to} (UTC)`),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Samples"),
        el("th", { scope: "col" }, "Miss rate of automatic closures"),
        el("th", { scope: "col" }, "False alarms of review routing"),
        el("th", { scope: "col" }, "Agreement (kappa)"))),
      el("tbody", {}, row("Overall", overall)),
      groups.map(([title, entries]) => Object.keys(entries || {}).length ? el("tbody", {},
        el("tr", { class: "group" }, el("th", { scope: "rowgroup", colspan: 4 }, title)),
        Object.entries(entries).map(([name, f]) => row(name ? iso(name) : el("span", { class: "muted" }, "unknown"), f))) : null)),
    none ? el("p", { class: "muted" }, "No sample closed in this period has been reviewed yet.") : null,
    el("p", { class: "hint" },
      "Miss rate: of the cases that closed on their own and were drawn for a blind review, the share the reviewer found violating. ",
      "False alarms: of the cases sent to a moderator and drawn, the share the reviewer dismissed. ",
      "Agreement: Cohen's kappa of the first decision and the reviewer's (1: always agree, 0: no better than chance). ",
      "In brackets the 95% interval; n: samples reviewed; —: none.")]);
}

// ---------------------------------------------------------------- keyboard
function typingIn(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)
    && !(target.tagName === "INPUT" && ["radio", "checkbox", "button", "submit"].includes(target.type)));
}

function onKey(event) {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    const form = event.target.closest?.("form.decide, form.appeal") || document.querySelector("#case form.decide");
    if (form) { event.preventDefault(); form.requestSubmit(); }
    return;
  }
  if (event.key === "Escape" && typingIn(event.target)) { event.target.blur(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
  if (event.key === "n") { event.preventDefault(); nextCase(); }
  else if (event.key === "j") { event.preventDefault(); moveInQueue(1); }
  else if (event.key === "k") { event.preventDefault(); moveInQueue(-1); }
  else if (/^[1-9]$/.test(event.key)) {
    const radio = document.querySelector(`#case form.decide input[data-shortcut="${event.key}"]`);
    if (radio) {
      event.preventDefault(); radio.checked = true; radio.focus();
      radio.dispatchEvent(new Event("change", { bubbles: true }));  // as a click would: the form follows the choice
    }
  }
}

// ---------------------------------------------------------------- wiring
function poll() {
  if (document.hidden || !state.me) return;
  loadQueue();
  loadCase();
  if (state.sample) showHold(state.sample);
  if (OVERSEERS.includes(state.me.role) && Date.now() - state.accuracyAt >= ACCURACY_MS) loadAccuracy();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => { event.preventDefault(); quiet(); signIn(); });
  $("logout").addEventListener("click", signOut);
  $("view").addEventListener("change", () => { quiet(); state.view = $("view").value; state.pages = 1; state.items = []; loadQueue(); });
  $("next").addEventListener("click", nextCase);
  $("more").addEventListener("click", showMore);
  document.addEventListener("keydown", onKey);
  setInterval(poll, POLL_MS);
  start();
});
