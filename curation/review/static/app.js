// The review page: one card at a time, decided with one key. Every text from the data is set
// with textContent (never innerHTML): tag names like <3 or >_< stay text.
"use strict";
const state = { cards: [], index: 0, offset: 0, total: 0, history: [], filter: {}, pageSize: 50 };
// key press -> card shown, in ms (read by bench/bench_review_page.py)
window.curateTimings = { renders: [], lastKey: null, latencies: [] };
async function api(path, body) {
  const options = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function query(extra) {
  const params = new URLSearchParams({ ...state.filter, ...extra });
  return params.toString();
}

async function load(offset) {
  const page = await api(`/api/queue?${query({ offset, limit: state.pageSize })}`);
  state.cards = page.cards; state.offset = offset; state.total = page.total; state.index = 0;
  const select = document.querySelector("select[name=category]");
  if (select.options.length === 1) for (const c of page.categories) select.append(new Option(c, c));
  render();
}

function render() {
  const card = document.getElementById("card");
  card.replaceChildren();
  const c = state.cards[state.index];
  document.getElementById("status").textContent =
    `${state.total} suggestions match; showing ${state.total ? state.offset + state.index + 1 : 0} of them`;
  if (!c) { card.append(el("p", "Nothing left to review with these filters.")); renderBulk(null); return; }
  card.dataset.postId = c.post_id; card.dataset.tag = c.tag; card.dataset.action = c.action;
  const now = performance.now();
  window.curateTimings.renders.push(now);
  if (window.curateTimings.lastKey !== null) {
    window.curateTimings.latencies.push(now - window.curateTimings.lastKey);
    window.curateTimings.lastKey = null;
  }
  if (c.has_image) {
    const img = el("img"); img.alt = `post ${c.post_id}`;
    img.src = imageUrl(c.post_id);
    card.append(img);
  }
  const change = el("p", "", `change ${c.action}`);
  change.append(el("span", c.action === "add" ? "add " : "remove "), el("strong", c.tag, "tagname"),
    el("span", ` (${c.category}) on post ${c.post_id}: precision ${c.precision_estimate.toFixed(2)}, confidence ${c.confidence.toFixed(2)}`));
  card.append(change);
  if (c.decision) card.append(el("p", `decided: ${c.decision}`, "decided"));
  const tags = el("div", "", "tags");
  for (const [category, names] of Object.entries(c.tags)) {
    const row = el("p"); row.append(el("em", `${category}: `));
    for (const name of names) row.append(el("span", name));
    tags.append(row);
  }
  card.append(el("h2", "Current tags"), tags);
  if (c.group.length) {
    const list = el("ul", "", "evidence");
    for (const m of c.group) list.append(el("li", `duplicate post ${m.post_id} ${m.has_tag ? "has" : "lacks"} ${c.tag}`));
    card.append(el("h2", "Duplicate group"), list);
  }
  renderBulk(c);
  card.focus();
  showNeighbours(c);
}

async function showNeighbours(c) {
  // fetched after the card is shown: the next card never waits for the neighbour search
  const found = await api(`/api/neighbours/${c.post_id}?${new URLSearchParams({ tag: c.tag })}`);
  if (state.cards[state.index] !== c || !found.neighbours.length) return;
  const list = el("ul", "", "evidence neighbours");
  for (const n of found.neighbours) {
    list.append(el("li", `post ${n.post_id} (similarity ${n.similarity.toFixed(2)}) ${n.has_tag ? "has" : "lacks"} ${c.tag}`));
  }
  const have = found.neighbours.filter((n) => n.has_tag).length;
  document.getElementById("card").append(el("h2", `Nearest labelled posts: ${have} of ${found.neighbours.length} have ${c.tag}`), list);
}

function renderBulk(c) {
  const box = document.getElementById("bulk");
  box.replaceChildren();
  if (!c) return;
  const p = c.precision_estimate;
  for (const decision of ["accept", "reject"]) {
    const button = el("button", `${decision} every open ${c.action} of ${c.tag} with precision >= ${p.toFixed(2)}`);
    button.className = `bulk-${decision}`;
    button.onclick = () => bulk(c, decision, p);
    box.append(button, el("br"));
  }
}

async function bulk(c, decision, minScore) {
  const scope = await api(`/api/bulk?${new URLSearchParams({ tag: c.tag, action: c.action, min_score: minScore })}`);
  if (!confirm(`${decision} ${scope.count} open suggestions (${c.action} ${c.tag}, precision >= ${minScore.toFixed(2)})?`)) return;
  const done = await api("/api/bulk", { tag: c.tag, action: c.action, min_score: minScore, decision });
  await load(state.offset); loadRates();
  document.getElementById("status").textContent = `${done.decided} decisions recorded (${c.action} ${c.tag})`;
}

async function decide(decision) {
  const c = state.cards[state.index];
  if (!c) return;
  await api("/api/decide", { post_id: c.post_id, tag: c.tag, action: c.action, decision });
  c.decision = decision; state.history.push(c);
  next(); loadRates();
}

async function undo() {
  const c = state.history.pop();
  if (!c) return;
  await api("/api/undo", { post_id: c.post_id, tag: c.tag, action: c.action });
  c.decision = null;
  const at = state.cards.indexOf(c);
  if (at >= 0) { state.index = at; render(); } else { await load(state.offset); }
  loadRates();
}

function next() {
  if (state.index + 1 < state.cards.length) { state.index += 1; render(); }
  else if (state.offset + state.cards.length < state.total) { load(state.offset + state.cards.length); }
  else { state.index = state.cards.length; render(); }
}

function previous() {
  if (state.index > 0) { state.index -= 1; render(); }
  else if (state.offset > 0) { load(Math.max(0, state.offset - state.pageSize)).then(() => { state.index = state.cards.length - 1; render(); }); }
}

async function loadRates() {
  const stats = await api("/api/stats");
  const body = document.querySelector("#rates tbody");
  body.replaceChildren();
  for (const t of stats.tags) {
    const row = el("tr");
    row.append(el("td", t.tag), el("td", String(t.accepted)), el("td", String(t.rejected)), el("td", t.rate.toFixed(2)));
    body.append(row);
  }
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
  const actions = { a: () => decide("accept"), r: () => decide("reject"), s: next, u: undo, ArrowRight: next, ArrowLeft: previous };
  if (actions[event.key]) { event.preventDefault(); window.curateTimings.lastKey = performance.now(); actions[event.key](); }
});

document.getElementById("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  state.filter = Object.fromEntries([...form.entries()].filter(([, v]) => v !== "" && v !== "0"));
  load(0);
});

load(0); loadRates();
