// cohortnet dashboard: a small single-page app over the node's /api/v1.
// No framework, no external resources: every element is built with the DOM.
"use strict";

const API = "/api/v1/";
const main = document.getElementById("main");
const statusEl = document.getElementById("status");

// --- token -----------------------------------------------------------------

// The URL the node prints carries the token in its fragment (#token=...),
// which browsers never send to a server; it is kept in localStorage.
// A route may come before it: #/signals&token=... opens that page.
(function takeTokenFromURL() {
  const m = location.hash.match(/[#&]token=([0-9a-fA-F]+)/);
  if (m) {
    localStorage.setItem("cohortnet-token", m[1]);
    const route = location.hash.slice(0, m.index).replace(/^#/, "") || "/cohorts";
    history.replaceState(null, "", location.pathname + "#" + route);
  }
})();

function token() { return localStorage.getItem("cohortnet-token") || ""; }

function askToken() {
  return new Promise((resolve) => {
    const dlg = document.getElementById("token-dialog");
    const form = document.getElementById("token-form");
    form.onsubmit = () => {
      localStorage.setItem("cohortnet-token", document.getElementById("token-input").value.trim());
      resolve();
    };
    dlg.showModal();
  });
}

// api fetches path under /api/v1 with the token; JSON unless raw.
async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, opts.headers || {});
  const resp = await fetch(API + path, Object.assign({}, opts, { headers }));
  if (resp.status === 401) {
    await askToken();
    return api(path, opts);
  }
  if (opts.raw) {
    if (!resp.ok) throw new Error(await errorText(resp));
    return resp;
  }
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error((body && body.error) || resp.status + " " + resp.statusText);
  return body;
}

async function errorText(resp) {
  const t = await resp.text();
  try { return JSON.parse(t).error || t; } catch (e) { return t || resp.statusText; }
}

// --- DOM helpers -----------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function badge(text, kind, title) { return el("span", { class: "badge " + kind, title }, text); }

function fmtNum(v) { return typeof v === "number" ? v.toLocaleString("en-US") : (v ?? ""); }

function fmt(v, digits = 2) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? fmtNum(v) : v.toFixed(digits);
  return String(v);
}

function shortCID(c) { return c && c.length > 20 ? c.slice(0, 12) + "…" + c.slice(-6) : c; }

function showError(err) {
  main.append(el("p", { class: "error" }, String(err && err.message ? err.message : err)));
}

// table builds a table; cols are {key, label, num, render, sort}; sortable
// headers sort the rows in place.
function table(cols, rows, opts = {}) {
  const tbody = el("tbody");
  let sortKey = opts.sortKey, desc = opts.desc !== false;
  const draw = () => {
    tbody.replaceChildren();
    let rs = rows.slice();
    if (sortKey) {
      const c = cols.find((c) => c.key === sortKey);
      const val = c.sort || ((r) => r[c.key]);
      rs.sort((a, b) => {
        const x = val(a), y = val(b);
        const o = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return desc ? -o : o;
      });
    }
    for (const r of rs) {
      tbody.append(el("tr", {}, cols.map((c) => el("td", { class: c.num ? "num" : "" }, c.render ? c.render(r) : fmt(r[c.key])))));
    }
  };
  const head = el("tr", {}, cols.map((c) => {
    const th = el("th", { class: (c.num ? "num " : "") + (opts.sortable ? "sortable" : ""), "data-key": c.key }, c.label);
    if (opts.sortable) th.addEventListener("click", () => { desc = sortKey === c.key ? !desc : true; sortKey = c.key; draw(); });
    return th;
  }));
  draw();
  return el("table", { class: opts.class || "" }, el("thead", {}, head), tbody);
}

// --- pages -----------------------------------------------------------------

// whoami caches the members by peer id (and which one is this node).
let membersCache = null;
async function members() {
  if (!membersCache) {
    const list = await api("peers");
    membersCache = { byID: new Map(list.map((m) => [m.peer, m])), self: list.find((m) => m.self), list };
  }
  return membersCache;
}
function who(ms, id) { const m = id && ms.byID.get(id); return m ? m.short_name : (id ? shortCID(id) : ""); }

// cosigners reads the signature lines of a checkpoint note: the operator's
// first, then the witnesses'.
function cosigners(note) {
  const sigs = (note || "").split("\n\n").slice(1).join("\n").split("\n").filter((l) => l.startsWith("\u2014 "));
  return sigs.map((l) => l.slice(2).split(" ")[0]);
}

async function pageNetwork() {
  membersCache = null;
  const [ms, cp] = await Promise.all([members(), api("ledger/checkpoint")]);
  main.append(el("h2", {}, "Network"), el("p", { class: "muted" }, ms.list.length + " members in the signed consortium configuration; this node is " + (ms.self ? ms.self.name : "?") + "."));
  main.append(table([
    { key: "name", label: "Member", render: (m) => [m.name, m.self ? " (this node)" : ""] },
    { key: "short_name", label: "Short name" },
    { key: "roles", label: "Roles", render: (m) => (m.roles || []).map((r) => badge(r, "tier")) },
    { key: "connected", label: "Connection", render: (m) => m.self ? badge("self", "ok") : m.connected ? badge("connected", "ok") : badge("not connected", "warn") },
    { key: "peer", label: "Peer id", render: (m) => el("code", {}, m.peer) },
  ], ms.list, { class: "members" }));
  const sig = cosigners(cp.checkpoint);
  main.append(el("h2", {}, "Ledger"),
    el("p", {}, "Log ", el("code", {}, (cp.checkpoint || "").split("\n")[0]), ", " + fmtNum(cp.size) + " entries."),
    el("p", {}, "Signed by the operator and cosigned by the witnesses: ", sig.map((n, i) => badge(n, "ok", i === 0 ? "operator" : "witness"))));
}

async function pageCohorts(params) {
  const q = new URLSearchParams(params);
  const field = (name, ph) => el("input", { name, placeholder: ph, value: q.get(name) || "" });
  const form = el("form", { class: "search" },
    field("condition", "condition (code or name)"), field("drug", "drug (code or name)"),
    field("institution", "institution"), el("input", { name: "min_persons", type: "number", min: 0, placeholder: "min persons", value: q.get("min_persons") || "" }),
    field("q", "text"), el("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const s = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) s.set(k, v);
    location.hash = "#/cohorts?" + s.toString();
  });
  main.append(el("h2", {}, "Cohorts"), form);
  const list = await api("cohorts?" + q.toString());
  if (list.length === 0) { main.append(el("p", { class: "muted" }, "No cohort matches.")); return; }
  main.append(table([
    { key: "name", label: "Dataset", render: (c) => [el("a", { href: "#/cohort/" + c.manifest }, c.name), " v" + c.version, el("div", { class: "muted" }, c.title)] },
    { key: "institution", label: "Institution" },
    { key: "persons", label: "Persons", num: true },
    { key: "years", label: "Years", render: (c) => c.year_min ? c.year_min + "–" + c.year_max : "" },
    { key: "access", label: "Access", render: (c) => badge(c.access, "tier") },
    { key: "status", label: "Verification", render: (c) => statusBadges(c.status) },
  ], list, { class: "cohorts" }));
}

function statusBadges(st) {
  const v = st || {};
  return [
    v.signature ? badge("signature ✓", "ok", "the publisher's Ed25519 signature over the manifest CID verifies") : badge("signature ✗", "bad"),
    v.anchored ? badge("ledger #" + (v.ledger_index ?? 0), "ok", "its publish entry is in this node's verified ledger copy") : badge("not in ledger", "bad"),
    v.witnesses ? badge(v.witnesses + " cosignatures", "ok", "witness cosignatures on the checkpoint") : badge("no cosignatures", "warn"),
    v.retracted ? badge("retracted", "bad") : null,
    v.own ? badge("published here", "ok") : v.held ? badge("held, CIDs ✓", "ok", "fetched; every chunk and file verified") : badge("not fetched", "warn"),
  ];
}

async function pageCohort(cid) {
  const [c, ms] = await Promise.all([api("cohorts/" + encodeURIComponent(cid)), members()]);
  const l = c.listing, m = c.manifest || {}, st = c.status || {};
  main.append(el("h2", {}, l.name + " v" + l.version), el("p", {}, m.title || l.title), el("p", { class: "muted" }, m.description || ""));
  main.append(el("p", {}, badge(l.access, "tier"), statusBadges(st)));

  const req = el("div", {});
  const [grants, reqs] = await Promise.all([api("access/grants"), api("access/requests")]);
  const self = ms.self ? ms.self.peer : "";
  const granted = grants.some((g) => g.dataset === l.name && g.grantee === self);
  const requested = reqs.some((r) => r.dataset === l.name && r.author === self);
  if (st.own) req.append(el("p", { class: "notice" }, "This node published this dataset."));
  else if (l.access === "aggregate-only") req.append(el("p", { class: "muted" }, "Aggregate-only: no rows leave the hospital; ask for federated aggregates instead."));
  else if (granted) req.append(el("p", { class: "notice" }, "This node holds a live grant for this dataset."));
  else if (requested) req.append(el("p", { class: "notice" }, "This node has requested access" + (l.access === "registered" ? " (registered tier: the request grants it)." : "; waiting for the publisher's grant.")));
  if (!st.own && l.access !== "aggregate-only" && !granted) {
    const purpose = el("input", { placeholder: "purpose of the request", size: 50, name: "purpose" });
    const f = el("form", { class: "search" }, purpose, el("button", { type: "submit", class: "request-access" }, "Request access"));
    f.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const r = await api("access/requests", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ dataset: l.name, purpose: purpose.value }) });
        req.append(el("p", { class: "notice" }, "Request recorded in the ledger as entry " + r.index + "."));
      } catch (e) { req.append(el("p", { class: "error" }, e.message)); }
    });
    req.append(f);
  }
  main.append(el("h3", {}, "Access"), req);

  const grid = el("div", { class: "grid2" });
  const s = m.summary || {};
  const codes = (title, list) => [el("h3", {}, title), table([
    { key: "name", label: "Name" },
    { key: "code", label: "Code", render: (x) => el("code", {}, x.code) },
    { key: "count", label: "Persons", num: true },
  ], list || [])];
  grid.append(el("div", {}, el("h3", {}, "Public summary"),
    el("p", {}, fmtNum(s.persons ?? l.persons) + " persons, years " + (s.year_min ?? l.year_min) + "–" + (s.year_max ?? l.year_max) + "; small counts suppressed."),
    codes("Most frequent conditions", s.conditions || l.conditions), codes("Most frequent drugs", s.drugs || l.drugs)));
  const d = m.deid || {};
  const all = await api("cohorts?all=1&institution=" + encodeURIComponent(l.institution));
  grid.append(el("div", {}, el("h3", {}, "Provenance"), table([
    { key: "k", label: "" }, { key: "v", label: "", render: (r) => el("code", {}, fmt(r.v, 4)) },
  ], [
    { k: "manifest", v: l.manifest }, { k: "previous version", v: (m.previous && m.previous["/"]) || "none" },
    { k: "publisher", v: (m.publisher ? m.publisher.name + " " + m.publisher.peer_id : l.publisher) },
    { k: "created", v: m.created || l.created }, { k: "licence", v: m.license },
    { k: "de-identification", v: d.mode }, { k: "k achieved", v: d.k_achieved }, { k: "highest risk", v: d.highest_risk },
    { k: "key fingerprint", v: d.key_fingerprint || "" }, { k: "ledger entry", v: st.anchored ? (st.ledger_index ?? 0) : "not anchored" },
  ]), el("h3", {}, "Versions"), table([
    { key: "version", label: "Version", num: true },
    { key: "manifest", label: "Manifest", render: (v) => el("a", { href: "#/cohort/" + v.manifest, class: "mono" }, shortCID(v.manifest)) },
    { key: "created", label: "Created" },
    { key: "retracted", label: "", render: (v) => v.retracted ? badge("retracted", "bad") : "" },
  ], all.filter((v) => v.name === l.name))));
  main.append(grid);
  main.append(el("h3", {}, "Schema"));
  for (const t of m.tables || []) {
    main.append(el("details", {}, el("summary", {}, t.name + " — " + fmtNum(t.rows) + " rows, " + (t.files || []).length + " file(s)"),
      table([{ key: "name", label: "Column" }, { key: "type", label: "Arrow type" }, { key: "nullable", label: "Nullable", render: (f) => f.nullable ? "yes" : "no" }], t.schema || [])));
  }
}

async function pageLedger() {
  const [cp, ms] = await Promise.all([api("ledger/checkpoint"), members()]);
  const size = cp.size || 0;
  const from = Math.max(0, size - 100);
  const entries = (await api("ledger/entries?from=" + from + "&limit=100")).reverse();
  const sig = cosigners(cp.checkpoint);
  const splits = cp.split_views || [];
  main.append(el("h2", {}, "Ledger"),
    el("div", { class: "cards" },
      el("div", { class: "card" }, el("div", { class: "muted" }, "Entries"), el("div", { class: "big ledger-size" }, fmtNum(size))),
      el("div", { class: "card" }, el("div", { class: "muted" }, "Signed by"), sig.map((n, i) => badge(n, "ok", i === 0 ? "operator" : "witness"))),
      el("div", { class: "card" }, el("div", { class: "muted" }, "Verification"),
        splits.length ? badge(splits.length + " split views seen", "bad") : badge("verified, no split view", "ok", "operator signature and witness quorum checked; every entry hashed to the root by this node"))),
    el("h3", {}, "Latest cosigned checkpoint"), el("pre", {}, cp.checkpoint || ""));
  main.append(el("h3", {}, "Recent entries"), table([
    { key: "index", label: "#", num: true },
    { key: "kind", label: "Kind", render: (e) => badge(e.kind, e.kind === "retract" || e.kind === "revoke" ? "bad" : "tier") },
    { key: "author", label: "Author", render: (e) => who(ms, e.author) },
    { key: "dataset", label: "Dataset / manifest", render: (e) => e.dataset || el("code", {}, shortCID(e.manifest)) },
    { key: "subject", label: "Who / purpose", render: (e) => e.grantee ? who(ms, e.grantee) : e.requester ? who(ms, e.requester) : e.recipient ? who(ms, e.recipient) : (e.purpose || "") },
    { key: "bytes", label: "Bytes", num: true, render: (e) => e.bytes ? fmtNum(e.bytes) : "" },
    { key: "time", label: "Time", render: (e) => (e.time || "").replace("T", " ").slice(0, 19) },
  ], entries, { class: "entries" }));
}

const defaultSQL = `SELECT source_institution AS institution, gender, count(*) AS persons
FROM cohorts.person
GROUP BY ALL ORDER BY ALL`;

async function pageQuery() {
  const sql = el("textarea", { id: "sql", spellcheck: "false" });
  sql.value = sessionStorage.getItem("cohortnet-sql") || defaultSQL;
  const out = el("div", { id: "query-result" });
  const run = el("button", { type: "button", id: "run-query" }, "Run");
  const csv = el("button", { type: "button", class: "secondary", id: "download-csv" }, "Download CSV");
  main.append(el("h2", {}, "Query console"),
    el("p", { class: "muted" }, "One SELECT over the local cohorts (schema cohorts unions every dataset with source_dataset and source_institution). Runs sandboxed on this node."),
    sql, el("p", {}, run, " ", csv), out);
  const body = () => JSON.stringify({ sql: sql.value });
  run.addEventListener("click", async () => {
    sessionStorage.setItem("cohortnet-sql", sql.value);
    out.replaceChildren(el("p", { class: "muted" }, "Running…"));
    try {
      const r = await api("query", { method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: body() });
      const cols = (r.columns || []).map((c, i) => ({ key: i, label: c.name ?? c, num: /INT|DOUBLE|DECIMAL|FLOAT|HUGEINT/i.test(c.type || "") }));
      const rows = (r.rows || []).map((row) => Object.assign({}, row));
      out.replaceChildren(el("p", { class: "muted row-count" }, rows.length + " rows"), table(cols, rows, { class: "results", sortable: true, sortKey: null }));
      const p = r.provenance || {};
      out.append(el("h3", {}, "Provenance"), el("p", {}, "Read: ", (p.datasets || []).map((d) => [badge(d.name, "tier"), el("code", {}, shortCID(d.manifest)), " "])),
        el("details", {}, el("summary", {}, "Ledger checkpoint at the time"), el("pre", {}, p.checkpoint || "")));
    } catch (e) { out.replaceChildren(el("p", { class: "error" }, e.message)); }
  });
  csv.addEventListener("click", async () => {
    try {
      const resp = await api("query", { method: "POST", raw: true, headers: { "Content-Type": "application/json", Accept: "text/csv" }, body: body() });
      const blob = await resp.blob();
      const a = el("a", { href: URL.createObjectURL(blob), download: "cohortnet-query.csv" });
      document.body.append(a); a.click(); a.remove();
    } catch (e) { out.replaceChildren(el("p", { class: "error" }, e.message)); }
  });
}

// sig reads a signal field whatever its JSON spelling.
function sig(s, ...names) { for (const n of names) if (s[n] !== undefined) return s[n]; return undefined; }
function flags(s) { return s.Flags || s.flags || {}; }

async function pageSignals(params) {
  const q = new URLSearchParams(params);
  const source = q.get("source") || "self-controlled";
  const form = el("form", { class: "search" },
    el("select", { name: "source" }, ["self-controlled", "exposures", "reports"].map((v) => el("option", { value: v, selected: v === source }, v))),
    el("label", {}, "risk window (days) ", el("input", { name: "window", type: "number", min: 1, value: q.get("window") || 30 })),
    el("label", {}, "minimum cases ", el("input", { name: "min_count", type: "number", min: 1, value: q.get("min_count") || 5 })),
    el("button", { type: "submit" }, "Compute"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/signals?" + new URLSearchParams(new FormData(form)).toString();
  });
  main.append(el("h2", {}, "Adverse-event signals"), el("p", { class: "muted" }, "Disproportionality over the local datasets: PRR with its 95% CI, χ², ROR, IC025. Flags: Evans (PRR ≥ 2, χ² ≥ 4, a ≥ 3), EMA, ROR025 > 1, IC025 > 0. self-controlled compares each exposed person's risk window with their own control windows (right on date-shifted datasets); exposures compares exposed with unexposed persons at sampled index days; reports counts recorded adverse events."), form);
  const list = await api("ae/signals?source=" + encodeURIComponent(source) + "&window=" + encodeURIComponent(q.get("window") || 30) + "&min_count=" + encodeURIComponent(q.get("min_count") || 5));
  // Methods that do not fit a dataset's timeline (exposures over date-shifted
  // data) say so on each signal: show each warning once.
  const warnings = [...new Set(list.map((s) => sig(s, "warning", "Warning")).filter((w) => w))];
  for (const w of warnings) main.append(el("p", { class: "warning" }, "Warning: " + w));
  const rows = list.map((s) => ({
    drug: sig(s, "drug_name", "drug") + "", event: sig(s, "event_name", "event") + "",
    a: sig(s, "A", "a"), prr: sig(s, "PRR", "prr"), lo: sig(s, "PRRLow", "prr_low"), hi: sig(s, "PRRHigh", "prr_high"),
    chi: sig(s, "ChiSq", "chi_sq"), ror: sig(s, "ROR", "ror"), ic025: sig(s, "IC025", "ic025"), f: flags(s),
  }));
  const flagged = rows.filter((r) => r.f.evans).sort((x, y) => y.a - x.a).slice(0, 20);
  main.append(el("h3", {}, "Flagged pairs (Evans), PRR with 95% CI"), forestPlot(flagged));
  main.append(el("h3", {}, rows.length + " pairs with at least the minimum cases"), table([
    { key: "drug", label: "Drug" }, { key: "event", label: "Event" },
    { key: "a", label: "a", num: true }, { key: "prr", label: "PRR", num: true },
    { key: "lo", label: "95% CI", render: (r) => fmt(r.lo) + "–" + fmt(r.hi) },
    { key: "chi", label: "χ²", num: true }, { key: "ror", label: "ROR", num: true }, { key: "ic025", label: "IC025", num: true },
    { key: "flags", label: "Flags", sort: (r) => (r.f.evans ? 8 : 0) + (r.f.ema ? 4 : 0) + (r.f.ror025 ? 2 : 0) + (r.f.ic025 ? 1 : 0),
      render: (r) => ["evans", "ema", "ror025", "ic025"].filter((k) => r.f[k]).map((k) => badge(k, "bad")) },
  ], rows, { class: "signals", sortable: true, sortKey: "a" }));
}

// forestPlot draws PRR and CI per pair on a log scale as SVG.
function forestPlot(rows) {
  const NS = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text !== undefined) e.textContent = text; return e; };
  const left = 330, width = 900, rowH = 22, top = 20, h = top + Math.max(rows.length, 1) * rowH + 30;
  const svg = s("svg", { class: "chart signals-chart", viewBox: `0 0 ${width} ${h}`, role: "img", "aria-label": "PRR with 95% confidence intervals" });
  if (rows.length === 0) { svg.append(s("text", { x: 10, y: 30 }, "No pair flagged.")); return svg; }
  const maxv = Math.max(4, ...rows.map((r) => r.hi || r.prr));
  const minv = 0.5;
  const x = (v) => left + (Math.log(Math.max(v, minv)) - Math.log(minv)) / (Math.log(maxv) - Math.log(minv)) * (width - left - 20);
  const axisY = top + rows.length * rowH + 5;
  svg.append(s("line", { class: "axis", x1: left, x2: width - 20, y1: axisY, y2: axisY }));
  for (const t of [0.5, 1, 2, 4, 8, 16, 32, 64].filter((t) => t <= maxv)) {
    svg.append(s("line", { class: "axis", x1: x(t), x2: x(t), y1: axisY, y2: axisY + 4 }), s("text", { x: x(t) - 4, y: axisY + 16 }, String(t)));
  }
  svg.append(s("line", { class: "ref", x1: x(1), x2: x(1), y1: top - 10, y2: axisY }));
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    const label = (r.drug.length > 26 ? r.drug.slice(0, 25) + "…" : r.drug) + " → " + (r.event.length > 22 ? r.event.slice(0, 21) + "…" : r.event);
    svg.append(s("text", { x: 4, y: y + 4 }, label));
    svg.append(s("line", { class: "ci", x1: x(r.lo), x2: x(r.hi), y1: y, y2: y }));
    svg.append(s("circle", { class: "pt" + (r.f.evans ? " flagged" : ""), cx: x(r.prr), cy: y, r: 4 }, undefined));
    svg.lastChild.append(s("title", {}, `PRR ${fmt(r.prr)} (${fmt(r.lo)}–${fmt(r.hi)}), a = ${r.a}`));
  });
  return svg;
}

// --- router ----------------------------------------------------------------

const pages = { network: pageNetwork, cohorts: pageCohorts, cohort: pageCohort, ledger: pageLedger, query: pageQuery, signals: pageSignals };

async function route() {
  const h = location.hash.replace(/^#\/?/, "") || "cohorts";
  const [path, query] = h.split("?");
  const [name, arg] = path.split("/");
  const page = pages[name] || pageCohorts;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === name || (name === "cohort" && a.dataset.page === "cohorts"));
  main.replaceChildren();
  main.dataset.page = name;
  main.dataset.ready = "";
  try {
    await page(name === "cohort" ? decodeURIComponent(arg || "") : (query || ""));
  } catch (e) {
    showError(e);
  }
  main.dataset.ready = "1";
  statusEl.textContent = "updated " + new Date().toLocaleTimeString();
}

window.addEventListener("hashchange", route);
route();
