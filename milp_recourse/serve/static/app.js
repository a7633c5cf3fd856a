// milp-recourse serve: the elicitation page. Record -> hard constraints -> soft preferences -> recommendation
// (-> why none, and one-click relaxations). Plain JS, no build step; talks to /api/*.
"use strict";

const $ = (id) => document.getElementById(id);
// unranked: features a relaxation allowed that the person has not placed in the ranking yet (sent unranked, so
// they cost as much as the hardest ranked one, as in the library's explanation)
const state = { schema: null, byName: {}, ranking: [], unranked: new Set() };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

const fmt = (v) => (v === null || v === undefined ? "–" : typeof v === "string" ? v
  : Number(v).toPrecision(4).replace(/\.?0+(e|$)/, "$1"));
// a level name (categorical / ordinal) or a number: changed when not equal
const differs = (a, b) => (typeof a === "string" || typeof b === "string" ? a !== b : Math.abs(a - b) > 1e-9);
const label = (name) => {
  const f = state.byName[name];
  return f && f.description ? `${f.description.replace(/\s*\(.*\)$/, "")} (${name})` : name;
};
const actionableSpec = () => state.schema.features.filter((f) => f.actionability !== "immutable");

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
  if (message) box.scrollIntoView({ block: "nearest" });
}

async function api(path, body) {
  const opts = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) };
  const resp = await fetch(path, opts);
  const data = await resp.json().catch(() => ({ detail: `The server answered ${resp.status}.` }));
  if (!resp.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
  return data;
}

function reveal(id) {
  const s = $(id);
  s.hidden = false;
  s.scrollIntoView({ behavior: "smooth", block: "start" });
}

// ---- step 1: the record -------------------------------------------------------------------------------
function renderRecord(values) {
  const box = $("record-fields");
  box.replaceChildren();
  for (const f of state.schema.features) {
    const id = `rec-${f.name}`;
    const hint = el("span", { class: "hint", id: `${id}-hint`, text: f.levels ? `one of ${f.levels.join(", ")}`
      : `between ${fmt(f.domain[0])} and ${fmt(f.domain[1])}` });
    let input;
    if (f.levels) {
      input = el("select", { id, name: f.name, "aria-describedby": hint.id });
      f.levels.forEach((lv, k) => input.append(el("option", { value: f.codes ? f.codes[k] : lv, text: String(lv) })));
    } else {
      input = el("input", { id, name: f.name, type: "number", step: "any", min: f.domain[0], max: f.domain[1],
        inputmode: "decimal", "aria-describedby": hint.id, required: true });
    }
    if (values && values[f.name] !== undefined) input.value = String(values[f.name]);
    box.append(el("div", { class: "field" }, el("label", { for: id, text: label(f.name) }), input, hint));
  }
}

function readRecord() {
  const out = {};
  for (const f of state.schema.features) {
    const raw = $(`rec-${f.name}`).value.trim();
    if (raw === "" || !Number.isFinite(Number(raw))) throw new Error(`Please enter a number for ${label(f.name)}.`);
    out[f.name] = Number(raw);
  }
  return out;
}

// ---- step 2: hard constraints ------------------------------------------------------------------------
function renderConstraints(record) {
  const box = $("constraint-fields");
  const previous = {};
  for (const f of actionableSpec()) {
    const can = $(`can-${f.name}`);
    if (can) previous[f.name] = { can: can.checked, dir: $(`dir-${f.name}`).value, lo: $(`lo-${f.name}`).value,
      hi: $(`hi-${f.name}`).value };
  }
  box.replaceChildren();
  for (const f of actionableSpec()) {
    const p = previous[f.name] || { can: true, dir: "any", lo: "", hi: "" };
    const can = el("input", { type: "checkbox", id: `can-${f.name}`, checked: p.can });
    const dir = el("select", { id: `dir-${f.name}` },
      el("option", { value: "any", text: "up or down" }), el("option", { value: "up", text: "only up" }),
      el("option", { value: "down", text: "only down" }));
    dir.value = p.dir;
    if (f.actionability === "increase" || f.actionability === "decrease") {
      dir.value = f.actionability === "increase" ? "up" : "down";
      dir.disabled = true;
    }
    const lo = el("input", { type: "number", step: "any", id: `lo-${f.name}`, placeholder: fmt(f.domain[0]),
      inputmode: "decimal" });
    const hi = el("input", { type: "number", step: "any", id: `hi-${f.name}`, placeholder: fmt(f.domain[1]),
      inputmode: "decimal" });
    lo.value = p.lo;
    hi.value = p.hi;
    const details = el("div", { class: "details", id: `details-${f.name}` },
      el("div", { class: "field" }, el("label", { for: dir.id, text: "Direction" }), dir),
      el("div", { class: "field" }, el("label", { for: lo.id, text: "Lowest value I'd accept" }), lo),
      el("div", { class: "field" }, el("label", { for: hi.id, text: "Highest value I'd accept" }), hi));
    const unordered = f.type === "categorical";   // levels without order: no direction, no value bounds
    const sync = () => {
      details.setAttribute("aria-disabled", String(!can.checked));
      for (const c of [lo, hi]) c.disabled = !can.checked || unordered;
      if (!(f.actionability === "increase" || f.actionability === "decrease")) dir.disabled = !can.checked || unordered;
    };
    can.addEventListener("change", sync);
    box.append(el("fieldset", { class: "feature", "data-feature": f.name },
      el("legend", {}, label(f.name) + " ", el("span", { class: "now", text: `now ${fmt(f.codes ?
        f.levels[f.codes.indexOf(record[f.name])] : record[f.name])}` })),
      el("label", { class: "can", for: can.id }, can, "I can change this"), details));
    sync();
  }
  const fixed = state.schema.features.filter((f) => f.actionability === "immutable").map((f) => label(f.name));
  $("fixed-note").textContent = fixed.length ? `Not changeable directly (the model treats them as given or as ` +
    `consequences of other changes): ${fixed.join(", ")}.` : "";
}

function ticked() {
  return actionableSpec().map((f) => f.name).filter((n) => $(`can-${n}`).checked);
}

// ---- step 3: soft preferences ------------------------------------------------------------------------
function move(name, delta) {
  const i = state.ranking.indexOf(name);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= state.ranking.length) return;
  state.unranked.delete(state.ranking[i]);
  state.unranked.delete(state.ranking[j]);
  [state.ranking[i], state.ranking[j]] = [state.ranking[j], state.ranking[i]];
  renderRanking();
  const btn = $(`${delta < 0 ? "up" : "down"}-${name}`);
  (btn && !btn.disabled ? btn : $(`${delta < 0 ? "down" : "up"}-${name}`)).focus();
}

function renderRanking() {
  const list = $("ranking-list");
  list.replaceChildren();
  state.ranking.forEach((name, i) => {
    const li = el("li", { draggable: "true", "data-feature": name, id: `rank-${name}` },
      el("span", { class: "label", text: label(name) +
        (state.unranked.has(name) ? " (not ranked yet: counts as your hardest)" : "") }),
      el("button", { type: "button", id: `up-${name}`, "aria-label": `Move ${label(name)} up (easier)`,
        disabled: i === 0, onclick: () => move(name, -1), text: "↑" }),
      el("button", { type: "button", id: `down-${name}`, "aria-label": `Move ${label(name)} down (harder)`,
        disabled: i === state.ranking.length - 1, onclick: () => move(name, 1), text: "↓" }));
    li.addEventListener("dragstart", (e) => { li.classList.add("dragging"); e.dataTransfer.setData("text/plain", name); });
    li.addEventListener("dragend", () => li.classList.remove("dragging"));
    li.addEventListener("dragover", (e) => e.preventDefault());
    li.addEventListener("drop", (e) => {
      e.preventDefault();
      const from = e.dataTransfer.getData("text/plain");
      if (!from || from === name) return;
      state.unranked.delete(from);
      state.ranking.splice(state.ranking.indexOf(from), 1);
      state.ranking.splice(state.ranking.indexOf(name) + (e.offsetY > li.offsetHeight / 2 ? 1 : 0), 0, from);
      renderRanking();
    });
    list.append(li);
  });
}

function renderPreferences() {
  const names = ticked();
  state.unranked = new Set([...state.unranked].filter((n) => names.includes(n)));
  state.ranking = state.ranking.filter((n) => names.includes(n)).concat(names.filter((n) => !state.ranking.includes(n)));
  renderRanking();
  const box = $("score-fields");
  const old = {};
  for (const n of names) if ($(`score-${n}`)) old[n] = $(`score-${n}`).value;
  box.replaceChildren();
  for (const n of names) {
    const sel = el("select", { id: `score-${n}` });
    for (let s = 1; s <= 5; s++) sel.append(el("option", { value: s, text: `${s}${s === 1 ? " (easy)" : s === 5 ? " (hard)" : ""}` }));
    sel.value = old[n] || "3";
    box.append(el("div", { class: "field" }, el("label", { for: sel.id, text: `How hard is changing ${label(n)}?` }), sel));
  }
}

function mode() {
  return $("mode-scores").checked ? "scores" : "ranking";
}

// ---- the request ---------------------------------------------------------------------------------------
function buildRequest() {
  const body = { individual: readRecord(), actionable: ticked(), bounds: {}, directions: {} };
  for (const n of body.actionable) {
    const lo = $(`lo-${n}`).value.trim(), hi = $(`hi-${n}`).value.trim();
    if (lo !== "" || hi !== "") body.bounds[n] = [lo === "" ? null : Number(lo), hi === "" ? null : Number(hi)];
    const d = $(`dir-${n}`);
    if (d.value !== "any" && !d.disabled) body.directions[n] = d.value;
  }
  const mc = $("max-changes").value.trim();
  if (mc !== "") body.max_changes = Number(mc);
  if (mode() === "scores") {
    body.scores = {};
    for (const n of body.actionable) body.scores[n] = Number($(`score-${n}`).value);
  } else {
    body.ranking = state.ranking.filter((n) => !state.unranked.has(n));
  }
  return body;
}

// A relaxation's request back into the form (so what the person sees is what was solved).
function applyRequest(req) {
  for (const f of actionableSpec()) {
    const n = f.name;
    $(`can-${n}`).checked = req.actionable.includes(n);
    $(`can-${n}`).dispatchEvent(new Event("change"));
    const b = (req.bounds || {})[n] || [null, null];
    $(`lo-${n}`).value = b[0] === null ? "" : String(b[0]);
    $(`hi-${n}`).value = b[1] === null ? "" : String(b[1]);
    const d = $(`dir-${n}`);
    if (!d.disabled) d.value = (req.directions || {})[n] || "any";
  }
  $("max-changes").value = req.max_changes === null || req.max_changes === undefined ? "" : String(req.max_changes);
  state.unranked = new Set(req.ranking ? req.actionable.filter((n) => !req.ranking.includes(n)) : []);
  if (req.ranking) state.ranking = req.ranking.slice();
  renderPreferences();
  if (req.scores) {   // a feature the relaxation allowed scores as the hardest one (what the request was priced at)
    const hardest = Math.max(...Object.values(req.scores));
    for (const n of req.actionable) $(`score-${n}`).value = String(n in req.scores ? req.scores[n] : hardest);
  }
}

// ---- step 4: the recommendation -----------------------------------------------------------------------
const STATUS_TEXT = {
  OPTIMAL: ["good", "Proven optimal: no cheaper change gets a favourable decision, and this one was re-checked on the causal model."],
  FEASIBLE: ["warn", "A verified recommendation, but not proven to be the cheapest (a time limit was reached)."],
  ALREADY_FAVOURABLE: ["good", "The decision is already favourable: nothing needs to change."],
  NO_RECOURSE: ["bad", "Proven: no change you allowed gets a favourable decision."],
  UNKNOWN: ["warn", "No answer within the time limit: neither a recommendation nor a proof that none exists."],
  VERIFICATION_FAILED: ["bad", "The solver's answer failed the independent re-check; it is not shown as advice."],
};

function sentence(res) {
  const acts = Object.entries(res.action);
  if (!acts.length) return "";
  const doThis = acts.map(([n, v]) => `change ${label(n)} from ${fmt(res.factual[n])} to ${fmt(v)}`).join(", and ");
  const effects = Object.keys(res.counterfactual).filter((n) => !(n in res.action) &&
    differs(res.counterfactual[n], res.factual[n]));
  let text = `To get a favourable decision, ${doThis}.`;
  if (effects.length) text += ` As a consequence, ${effects.map((n) => `${label(n)} would move from ` +
    `${fmt(res.factual[n])} to ${fmt(res.counterfactual[n])}`).join(", and ")}; you do not have to change ` +
    `${effects.length > 1 ? "those" : "that"} yourself.`;
  text += ` Under your preferences this costs ${fmt(res.cost)}` +
    (res.status === "OPTIMAL" ? ", the least of any change that works." : ".");
  return text;
}

function renderResult(res) {
  const box = $("result");
  box.replaceChildren();
  const [kind, text] = STATUS_TEXT[res.status] || ["warn", res.message];
  box.append(el("p", { class: `status ${kind}`, id: "status", "data-status": res.status, text: `${res.status}: ${text}` }));
  if (res.status === "OPTIMAL" || res.status === "FEASIBLE") {
    box.append(el("p", { class: "sentence", id: "sentence", text: sentence(res) }));
    const acts = el("tbody");
    for (const [n, v] of Object.entries(res.action)) {
      acts.append(el("tr", { "data-feature": n, "data-value": String(v) }, el("td", { text: label(n) }),
        el("td", { class: "num", text: fmt(res.factual[n]) }), el("td", { class: "num", text: fmt(v) }),
        el("td", { class: "num", text: fmt(res.cost_breakdown[n]) })));
    }
    box.append(el("h3", { text: "What to do" }), el("table", { id: "actions-table" },
      el("thead", {}, el("tr", {}, el("th", { text: "Change" }), el("th", { class: "num", text: "from" }),
        el("th", { class: "num", text: "to" }), el("th", { class: "num", text: "cost" }))), acts));
    const rows = el("tbody");
    for (const n of Object.keys(res.counterfactual)) {
      const changed = differs(res.counterfactual[n], res.factual[n]);
      const what = n in res.action ? "action" : changed ? "effect" : "";
      rows.append(el("tr", { class: what, "data-feature": n, "data-value": String(res.counterfactual[n]) },
        el("td", { text: label(n) }), el("td", { class: "num", text: fmt(res.factual[n]) }),
        el("td", { class: "num", text: fmt(res.counterfactual[n]) }),
        el("td", {}, what ? el("span", { class: `tag ${what}`, text: what === "action" ? "you change this"
          : "follows as an effect" }) : "")));
    }
    box.append(el("h3", { text: "Your record before and after" }), el("table", { id: "cf-table" },
      el("thead", {}, el("tr", {}, el("th", { text: "Feature" }), el("th", { class: "num", text: "now" }),
        el("th", { class: "num", text: "after" }), el("th", { text: "" }))), rows),
      el("p", { class: "legend", text: "Yellow: a change you make. Blue: a change that follows from yours " +
        "through the causal model (not something to do)." }));
    const parts = el("ul", { id: "cost-breakdown" });
    for (const [n, c] of Object.entries(res.cost_breakdown)) parts.append(el("li", { text: `${label(n)}: ${fmt(c)}` }));
    box.append(el("h3", { text: "Cost breakdown" }), parts,
      el("p", {}, "Total: ", el("strong", { id: "cost", "data-cost": String(res.cost), text: fmt(res.cost) }),
        res.status === "FEASIBLE" ? ` (a lower bound is ${fmt(res.objective_bound)})` : ""));
  } else if (res.message) {
    box.append(el("p", { text: res.message }));
  }
  box.append(el("details", {}, el("summary", { text: "Technical details" }),
    el("p", { class: "muted", text: `score ${fmt(res.score)} (${res.score_kind}) vs threshold ${fmt(res.score_threshold)}; ` +
      `verified: ${res.verified ? "yes" : "no"}; backend ${res.backend}; solved in ${fmt(res.solve_seconds)} s.` })));
}

// ---- step 5: no recourse ------------------------------------------------------------------------------
function personTerms(g) {
  if (!g.feature) return g.text;
  if (g.kind === "fixed") return `you cannot change ${label(g.feature)}`;
  return g.text.startsWith(g.feature) ? label(g.feature) + g.text.slice(g.feature.length) : g.text;
}

function renderExplain(ex) {
  const box = $("explain");
  box.replaceChildren();
  if (ex.scope === "universal" || !ex.conflict) {
    box.append(el("p", { id: "conflict", text: ex.message }));
    return;
  }
  const mine = ex.conflict.groups.filter((g) => g.kind !== "threshold");
  box.append(el("p", { text: "These limits you set, taken together, rule out every change that would work:" }),
    el("ul", { id: "conflict" }, ...mine.map((g) => el("li", { "data-key": g.key, text: personTerms(g) }))),
    el("p", { class: "muted", text: "Lifting any one of them (with your other limits set aside) would allow a change that works." }));
  if (!ex.relaxations.length) {
    box.append(el("p", { text: "No single relaxation of your limits was found that gives a favourable decision." }));
    return;
  }
  const list = el("ul", { class: "relaxations", id: "relaxations" });
  ex.relaxations.forEach((r, i) => {
    const what = r.drop.map((k) => {
      const g = ex.conflict.groups.find((x) => x.key === k) || { key: k, kind: k.split(":")[0], feature: k.split(":")[1], text: k };
      return g.kind === "fixed" ? `you could also change ${label(g.feature)}` : `you dropped "${personTerms(g)}"`;
    }).join(" and ");
    const acts = Object.entries(r.action).map(([n, v]) => `${label(n)} to ${fmt(v)}`).join(", ");
    list.append(el("li", { class: r.cheapest ? "cheapest" : "", "data-cost": String(r.cost), "data-drop": r.drop.join(",") },
      el("p", { text: `${r.cheapest ? "Cheapest: " : ""}If ${what}, a favourable decision would cost ${fmt(r.cost)} ` +
        `(change ${acts}).` }),
      el("button", { type: "button", class: "relax", id: `relax-${i}`, text: "Re-solve with this",
        onclick: () => { applyRequest(r.request); solve(); } })));
  });
  box.append(el("h3", { text: "What would open a way" }), list);
}

// ---- flow ------------------------------------------------------------------------------------------------
async function solve() {
  showError("");
  let body;
  try { body = buildRequest(); } catch (e) { showError(e.message); return; }
  const btn = $("solve");
  btn.disabled = true;
  btn.textContent = "Solving…";
  $("step-explain").hidden = true;
  try {
    const res = await api("/api/solve", body);
    renderResult(res);
    reveal("step-result");
    if (res.status === "NO_RECOURSE") {
      $("explain").replaceChildren(el("p", { class: "muted", text: "Looking for what blocks it…" }));
      reveal("step-explain");
      renderExplain(await api("/api/explain", body));
    }
  } catch (e) {
    showError(e.message);
  } finally {
    btn.disabled = false;
    btn.textContent = "Show my recommendation";
  }
}

async function init() {
  try {
    state.schema = await api("/api/schema");
  } catch (e) {
    showError(`Could not load the model: ${e.message}`);
    return;
  }
  for (const f of state.schema.features) state.byName[f.name] = f;
  $("model-info").textContent = `Model: ${state.schema.classifier} on the ${state.schema.scm} causal model. ` +
    `Each answer takes at most ${fmt(state.schema.time_limit)} s.`;
  renderRecord(state.schema.example);
  if (state.schema.rows) {
    $("pick").hidden = false;
    $("pick-id").max = state.schema.rows - 1;
    $("pick-load").addEventListener("click", async () => {
      showError("");
      try {
        const rec = await api(`/api/individuals/${encodeURIComponent($("pick-id").value.trim())}`);
        renderRecord(rec.individual);
      } catch (e) { showError(e.message); }
    });
  }
  $("record-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showError("");
    try { renderConstraints(readRecord()); } catch (err) { showError(err.message); return; }
    reveal("step-constraints");
  });
  $("constraints-form").addEventListener("submit", (e) => {
    e.preventDefault();
    showError("");
    if (!ticked().length) { showError("Tick at least one thing you can change."); return; }
    renderPreferences();
    reveal("step-preferences");
  });
  for (const r of document.querySelectorAll("input[name=pref-mode]")) {
    r.addEventListener("change", () => {
      $("ranking-panel").hidden = mode() !== "ranking";
      $("score-panel").hidden = mode() !== "scores";
    });
  }
  $("solve").addEventListener("click", solve);
}

init();
