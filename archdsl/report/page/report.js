// archdsl report: draws the views that Graphviz laid out (one per scope), the spec
// text beside them, and the tables. Data comes from the JSON block; every string of
// it is written with textContent or setAttribute, never parsed as markup.
"use strict";

const DATA = JSON.parse(document.getElementById("report-data").textContent);
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const state = { net: null, scope: "", selected: null, status: {}, file: -1 };

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
const count = (n) => Number(n).toLocaleString("en-US");
function si(n) {
  for (const [u, s] of [["G", 1e9], ["M", 1e6], ["K", 1e3]]) if (n >= s) return (n / s).toFixed(2) + u;
  return String(n);
}
const dims = (a) => (a && a.length ? "(" + a.join(", ") + ")" : "-");
const mb = (b) => (b && b < 10486 ? (b / 1024).toFixed(1) + " KB" : (b / 1048576).toFixed(2) + " MB");

// ---------------------------------------------------------------- networks and tabs

function showNetwork(index) {
  state.net = DATA.networks[index];
  state.status = DATA.diff ? diffStatus(index) : {};
  document.querySelectorAll("#tabs button").forEach((b, i) => b.classList.toggle("on", i === index));
  const t = state.net.totals;
  $("totals").textContent = `${state.net.name}: input ${dims(state.net.input)}, ` +
    `${count(t.params)} params, ${si(t.macs)} MACs, activations ${mb(t.activation_bytes)}, ` +
    `total ${t.total_mb} MB`;
  state.file = -1;
  showFile(0);
  stageTable();
  state.selected = null;
  $("detail").replaceChildren(el("p", { class: "hint" }, "Nothing selected."));
  openScope("");
}

function tabs() {
  const names = DATA.networks.map((n) => n.name);
  $("title").textContent = DATA.mode === "diff" ? `${names[0]} → ${names[1]}` : names.join(", ");
  if (DATA.networks.length < 2) return;
  DATA.networks.forEach((n, i) => {
    const label = DATA.mode === "diff" ? `${"AB"[i]}: ${n.name}` : n.name;
    const b = el("button", { "data-net": i }, label);
    b.onclick = () => showNetwork(i);
    $("tabs").append(b);
  });
}

// ---------------------------------------------------------------- the graph view

function openScope(id) {
  state.scope = id;
  crumbs(id);
  const view = state.net.views[id];
  const root = svg("svg", { class: "net", width: view.w + 16, height: view.h + 16,
                            viewBox: `-8 -8 ${view.w + 16} ${view.h + 16}` });
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
                                 markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(svg("path", { d: "M0,0L10,5L0,10z", style: "fill:#888;stroke:none" }));
  const defs = svg("defs");
  defs.append(marker);
  root.append(defs);
  for (const p of view.edges) {
    let d = `M${p[0]},${p[1]}`;
    for (let i = 2; i + 6 <= p.length; i += 6) d += `C${p.slice(i, i + 6).join(",")}`;
    root.append(svg("path", { d }));
  }
  for (const [key, x, y, w, h] of view.boxes) root.append(box(key, x, y, w, h));
  $("graph").replaceChildren(root);
  $("graph").scrollTop = 0;
  mark();
}

function box(key, x, y, w, h) {
  const item = state.net.items[key];
  const g = svg("g", { class: "box", "data-id": key, transform: `translate(${x - w / 2},${y - h / 2})` });
  g.append(svg("rect", { width: w, height: h }));
  if (!item) {  // where the view's edges enter or leave its scope
    g.classList.add("port");
    g.append(svg("text", { x: w / 2, y: h / 2 + 4, "text-anchor": "middle" }, key === "<in>" ? "in" : "out"));
    return g;
  }
  if (item.scope) g.classList.add("scope");
  if (state.status[key]) g.classList.add(state.status[key]);
  g.append(svg("title", {}, `${key || item.local}\n${item.kind} ${dims(item.shape)}\n` +
    `${count(item.params)} params, ${si(item.macs)} MACs, ${mb(item.activation_bytes)}, RF ${dims(item.rf)}`));
  const fit = (text) => (text.length > (w - 16) / 5.6 ? text.slice(0, Math.floor((w - 16) / 5.6) - 1) + "…" : text);
  g.append(svg("text", { x: 8, y: 14, class: "name" }, fit(item.local)));
  g.append(svg("text", { x: 8, y: 28 }, fit(item.kind)));
  g.append(svg("text", { x: 8, y: 41 }, fit(dims(item.shape))));
  g.onclick = () => select(key);
  if (item.scope) {
    const open = svg("text", { x: w - 16, y: 16, class: "open", "data-open": key }, "⊞");
    open.onclick = (e) => { e.stopPropagation(); openScope(key); };
    g.append(open);
    g.ondblclick = () => openScope(key);
  }
  return g;
}

function crumbs(id) {
  const parts = id ? id.split(".") : [];
  const nav = $("crumbs");
  nav.replaceChildren();
  [""].concat(parts.map((_, i) => parts.slice(0, i + 1).join("."))).forEach((path, i) => {
    if (i) nav.append(el("span", { class: "sep" }, " › "));
    const b = el("button", { "data-scope": path }, i ? parts[i - 1] : state.net.name);
    b.onclick = () => openScope(path);
    nav.append(b);
  });
}

// The box of the current view that shows `key`: its own, or that of a scope around it.
function shownAs(key) {
  for (let k = key; k !== null && k !== undefined; k = state.net.items[k] && state.net.items[k].parent) {
    const found = document.querySelector(`#graph .box[data-id="${CSS.escape(k)}"]`);
    if (found) return found;
    if (k === "") break;
  }
  return null;
}

// ---------------------------------------------------------------- selection

function select(key, fromLine) {
  state.selected = key;
  mark();
  detail(key);
  const span = state.net.items[key].span;
  if (!fromLine) highlight(span ? [span] : []);
}

function mark(matches) {
  document.querySelectorAll("#graph .box.selected, #graph .box.match")
    .forEach((b) => b.classList.remove("selected", "match"));
  for (const key of matches || []) { const b = shownAs(key); if (b) b.classList.add("match"); }
  const b = state.selected !== null && shownAs(state.selected);
  if (b) {
    b.classList.add("selected");
    b.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
}

function detail(key) {
  const item = state.net.items[key];
  const where = (s) => (s ? `${state.net.sources[s[0]].path}:${s[1]}` : "-");
  const rows = [["name", key || state.net.name], ["kind", item.kind], ["shape", dims(item.shape)],
    ["params", count(item.params)], ["MACs", count(item.macs)], ["other ops", count(item.other_flops)],
    ["activations", mb(item.activation_bytes)], ["receptive field", dims(item.rf)],
    ["stride", dims(item.stride)], ["spec", where(item.span)]];
  if (item.defined) rows.push(["defined", where(item.defined)]);
  if (state.status[key]) rows.push(["change", state.status[key]]);
  const table = el("table");
  for (const [k, v] of rows) {
    const tr = el("tr", { "data-field": k });
    tr.append(el("td", {}, k), el("td", {}, v));
    table.append(tr);
  }
  $("detail").replaceChildren(el("h2", {}, item.local), table);
}

// ---------------------------------------------------------------- spec text

function showFile(index) {
  if (state.file === index) return;
  state.file = index;
  const source = state.net.sources[index];
  $("spec-file").textContent = source.path;
  $("spec-pane").scrollTop = 0;
  const lines = source.lines.map((text, i) => {
    const div = el("div", { "data-line": i + 1 }, text || " ");
    div.onclick = () => fromLine(i + 1);
    return div;
  });
  $("spec").replaceChildren(...lines);
}

function highlight(spans) {
  document.querySelectorAll("#spec div.lit").forEach((d) => d.classList.remove("lit"));
  if (!spans.length) return;
  showFile(spans[0][0]);
  for (const [file, first, last] of spans) {
    if (file !== state.file) continue;
    for (let n = first; n <= last; n++) {
      const div = document.querySelector(`#spec div[data-line="${n}"]`);
      if (div) div.classList.add("lit");
    }
  }
  const first = document.querySelector("#spec div.lit"), pane = $("spec-pane");
  const top = first && first.offsetTop;  // #spec-pane is its offsetParent
  if (first && (top < pane.scrollTop || top > pane.scrollTop + pane.clientHeight - 40)) {
    pane.scrollTop = top - pane.clientHeight / 3;
  }
}

// Clicking a spec line selects the items made from it: in the open view if one shows
// there, else the view of the first one is opened.
function fromLine(n) {
  const hits = Object.entries(state.net.items).filter(([, it]) =>
    it.span && it.span[0] === state.file && it.span[1] <= n && n <= it.span[2]);
  const file = state.file;
  if (!hits.length) return highlight([[file, n, n]]);
  // The narrowest span is what the line made; wider ones (its scopes) only hold it.
  hits.sort((a, b) => (a[1].span[2] - a[1].span[1]) - (b[1].span[2] - b[1].span[1]));
  const width = hits[0][1].span[2] - hits[0][1].span[1];
  const keys = hits.filter(([, it]) => it.span[2] - it.span[1] === width).map(([k]) => k);
  let first = keys.find((k) => shownAs(k) && shownAs(k).dataset.id === k);
  if (first === undefined) {
    first = keys[0];
    openScope(state.net.items[first].parent || "");
  }
  select(first, true);
  mark(keys);
  highlight([[file, n, n]]);
}

// ---------------------------------------------------------------- tables

function table(headers, rows) {
  const t = el("table", { class: "rows" });
  const head = el("tr");
  headers.forEach((h) => head.append(el("th", {}, h)));
  t.append(head);
  for (const r of rows) {
    const tr = el("tr");
    r.forEach((c) => tr.append(el("td", {}, c)));
    t.append(tr);
  }
  return t;
}

function stageTable() {
  const rows = state.net.stages.map((r) => [r.name, r.op, dims(r.shape), count(r.params),
    si(r.macs), mb(r.activation_bytes), dims(r.receptive_field), dims(r.stride)]);
  $("stages").replaceChildren(el("h2", {}, `Per stage (summary --depth 1): ${state.net.name}`),
    table(["module", "op", "output", "params", "MACs", "activations", "RF", "stride"], rows));
}

function diffStatus(index) {
  const mine = DATA.networks[index].items, other = DATA.networks[1 - index].items;
  const status = {};
  for (const [key, it] of Object.entries(mine)) {
    const o = other[key];
    if (!o) status[key] = index ? "new" : "gone";
    else if (dims(o.shape) !== dims(it.shape)) status[key] = "shape";
    else if (o.params !== it.params) status[key] = "params";
  }
  for (const key of Object.keys(status)) {  // a scope with a change inside it
    for (let p = mine[key].parent; p !== null && p !== undefined; p = mine[p].parent) {
      if (!status[p]) status[p] = "inside";
      if (p === "") break;
    }
  }
  return status;
}

function diffReport() {
  const d = DATA.diff, w = d.weights, box = $("diff-report");
  const legend = el("p", { class: "legend" }, "Boxes: ");
  for (const s of ["new", "gone", "shape", "params", "inside"]) legend.append(el("span", { class: s }, s));
  const totals = Object.entries(d.totals).map(([k, v]) => [k, count(v.a), count(v.b),
    (v.delta >= 0 ? "+" : "") + count(v.delta)]);
  const reshaped = w.reshaped.map((r) => [r.name, dims(r.from), dims(r.to)]);
  box.append(el("h2", {}, `Diff: ${d.a} → ${d.b}`), legend,
    table(["total", "A", "B", "change"], totals),
    el("h2", {}, "Weight transfer A → B"),
    el("p", {}, `${w.unchanged.length} tensors load unchanged, ${w.reshaped.length} reshaped ` +
      `(not loaded), ${w.new.length} new in B, ${w.gone.length} gone from A.`),
    table(["reshaped tensor", "A", "B"], reshaped),
    table(["new in B"], w.new.map((n) => [n])), table(["gone from A"], w.gone.map((n) => [n])));
}

function compareTable() {
  const rows = DATA.compare.map((r) => [r.spec, (r.params / 1e6).toFixed(2),
    (r.macs / 1e9).toFixed(3), (r.activation_bytes / 1048576).toFixed(1), r.forward_backward_mb.toFixed(1)]);
  $("chart").prepend(el("h2", {}, "Comparison"),
    table(["spec", "params (M)", "MACs (G)", "activations (MB)", "fwd+bwd (MB)"], rows));
}

tabs();
if (DATA.diff) diffReport();
if (DATA.compare) compareTable();
showNetwork(DATA.mode === "diff" ? 1 : 0);
