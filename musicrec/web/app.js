// The musicrec page: calls only the recommendations service's public routes (same origin, no CORS).
// Lists come from the course routes with details=true (and the tracks excluded this session, and the
// cap per artist chosen); a listen, a skip or a dislike is recorded with POST /listen.
// `?user_id=N` in the address opens that listener.
"use strict";

const LISTS = {
  default: "/recommendations_default",
  offline: "/recommendations_offline",
  online: "/recommendations_online",
  blended: "/recommendations",
};
const K = 10;
const KEY_STORAGE = "musicrec-api-key";
const QUALITY_COLUMNS = ["precision@10", "recall@10", "ndcg@10", "map@10", "item_coverage@10", "novelty@10"];
const CHART_METRIC = "ndcg@10";

const state = {
  userId: null,
  previous: {},        // list name -> item ids last shown, to highlight what changed
  degraded: {},        // list name -> whether its last answer was degraded
  played: [],          // {item_id, name} played this session, newest first
  excluded: [],        // {item_id, name} left out of every list this session
  cap: "",             // max_per_artist to ask for: "" is the service's own (blended lists only)
  serving: {},         // the service's options from /about (its cap of blended lists)
  arm: null,           // the A/B arm the listener's answers came from, when an experiment runs
  pendingRetry: null,  // the action to run again once a key is given
  setName: null,
};

const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

class NeedsKey extends Error {}

// One call of the service; the stored key goes with every request (reads may need it too).
async function api(path, params = {}, method = "GET") {
  const url = new URL(path, window.location.href);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const headers = {};
  const key = window.localStorage.getItem(KEY_STORAGE);
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(url, { method, headers });
  if (response.status === 401 || response.status === 403) throw new NeedsKey((await response.json()).detail);
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || `${path} answered ${response.status}`);
  return { body, artifactSet: response.headers.get("X-Artifact-Set"), arm: response.headers.get("X-Experiment-Arm") };
}

// Runs a user action, timing it and turning every failure into a message on the page. The status
// line also counts finished actions (data-finished), so a test or a benchmark knows when one is done.
async function act(label, action) {
  const started = performance.now();
  const status = $("#status");
  status.classList.remove("error");
  try {
    await action();
    const took = Math.round(performance.now() - started);
    status.textContent = `${label}: ${took} ms`;
    status.dataset.ms = String(took);
    status.dataset.done = label;
  } catch (error) {
    if (error instanceof NeedsKey) {
      state.pendingRetry = () => act(label, action);
      $("#key-form").hidden = false;
      $("#api-key").focus();
      status.textContent = `${label}: ${error.message}`;
    } else {
      status.textContent = `${label} failed: ${error.message}`;
    }
    status.classList.add("error");
    status.dataset.done = `${label} failed`;
  }
  status.dataset.finished = String(Number(status.dataset.finished || 0) + 1);
}

function trackWords(track) {
  const name = track.name ?? `track ${track.item_id}`;
  return track.artists.length ? `${name} — ${track.artists.join(", ")}` : name;
}

function trackButton(kind, symbol, title, action) {
  const button = element("button", { class: kind, type: "button", title, text: symbol });
  button.addEventListener("click", action);
  return button;
}

function playButton(track) {
  return trackButton("play", "▶", "Play this track",
    () => act(`played ${track.name ?? track.item_id}`, () => play(track)));
}

// Exclude: left out of every list this session (sent as exclude=); dislike: stored for the listener,
// so the service never recommends it to them again.
function feedbackButtons(track) {
  return [
    trackButton("exclude", "✕", "Leave this track out of the lists (this session)",
      () => act(`excluded ${track.name ?? track.item_id}`, () => exclude(track))),
    trackButton("dislike", "👎", "Dislike: never recommend it to this listener again",
      () => act(`disliked ${track.name ?? track.item_id}`, () => dislike(track))),
  ];
}

function trackItem(track, isNew, withFeedback = false) {
  const item = element("li", { class: isNew ? "track new" : "track", "data-item": String(track.item_id) });
  const title = element("div", { class: "title" }, playButton(track),
    element("span", { class: "name", text: track.name ?? `track ${track.item_id}` }),
    ...(withFeedback ? feedbackButtons(track) : []));
  item.append(title, element("div", { class: "artists", text: track.artists.join(", ") || "unknown artist" }));
  if (track.genres && track.genres.length) {
    item.append(element("div", { class: "genres" }, ...track.genres.map((genre) => element("span", { text: genre }))));
  }
  if (track.reason) {
    item.append(element("div", { class: `reason ${track.reason.source}`, "data-source": track.reason.source,
      "data-because-of": track.reason.because_of ?? "", text: track.reason.text }));
  }
  return item;
}

function renderList(name, answer) {
  const section = $(`.list[data-list="${name}"]`);
  const seen = new Set(state.previous[name] || []);
  const firstTime = state.previous[name] === undefined;
  const tracks = answer.details || [];
  const items = tracks.map((track) => trackItem(track, !firstTime && !seen.has(track.item_id), true));
  section.querySelector("ol").replaceChildren(...items);
  if (!tracks.length) {
    const why = name === "online" ? "nothing yet: play a track" : "nothing";
    section.querySelector("ol").append(element("li", { class: "empty", text: why }));
  }
  section.classList.toggle("is-degraded", Boolean(answer.degraded));
  section.querySelector(".cap").textContent = capWords(name);
  state.previous[name] = tracks.map((track) => track.item_id);
}

// The cap per artist a list was asked with, in words (shown under each list's title).
function capWords(name) {
  const cap = state.cap !== "" ? Number(state.cap) : name === "blended" ? state.serving.max_per_artist : 0;
  if (!cap) return "no cap per artist";
  const allowed = Math.max(1, Math.ceil((cap * K) / 10));
  return `at most ${allowed} track${allowed === 1 ? "" : "s"} of one artist`;
}

// A listen changes the online and blended lists, and the offline one while the service drops what was
// just heard (filter_heard; an A/B arm may set it otherwise, so with an arm the offline list is asked
// again too). A dislike or an exclusion changes every list; so does a new listener.
const AFTER_FEEDBACK = ["default", "offline", "online", "blended"];

function afterAListen() {
  const offlineToo = state.serving.filter_heard || Boolean(state.arm);
  return offlineToo ? ["offline", "online", "blended"] : ["online", "blended"];
}

function listParams(name) {
  const params = name === "default" ? { k: K, details: true } : { user_id: state.userId, k: K, details: true };
  if (state.excluded.length) params.exclude = state.excluded.map((track) => track.item_id).join(",");
  if (state.cap !== "") params.max_per_artist = state.cap;
  return params;
}

async function refreshLists(names = Object.keys(LISTS)) {
  if (state.userId === null) names = names.filter((name) => name === "default");
  const answers = await Promise.all(names.map((name) => api(LISTS[name], listParams(name))));
  let setChanged = false;
  answers.forEach(({ body, artifactSet, arm }, position) => {
    renderList(names[position], body);
    state.degraded[names[position]] = Boolean(body.degraded);
    if (artifactSet && artifactSet !== state.setName) setChanged = true;
    if (names[position] !== "default") state.arm = arm;
  });
  renderArm();
  if (setChanged) await loadAbout();  // the service switched to another artifact set (hot reload)
  const degraded = Object.keys(state.degraded).filter((name) => state.degraded[name]);
  $("#degraded").hidden = degraded.length === 0;
  $("#degraded-text").textContent =
    `the ${degraded.join(" and ")} answer${degraded.length > 1 ? "s were" : " was"} made without a service that did not answer (events or features).`;
  document.body.dataset.degraded = String(degraded.length > 0);
}

function renderArm() {
  const arm = $("#arm");
  arm.hidden = !state.arm;
  arm.textContent = state.arm ? `A/B arm: ${state.arm}` : "";
}

async function chooseUser(userId, description) {
  state.userId = userId;
  state.previous = {};
  state.degraded = {};
  state.played = [];
  state.excluded = [];
  state.arm = null;
  renderPlayed();
  renderExcluded();
  $("#user-id").value = String(userId);
  $("#who").textContent = description;
  const address = new URL(window.location.href);  // a link to this page opens this listener again
  address.searchParams.set("user_id", String(userId));
  window.history.replaceState(null, "", address);
  await refreshLists();
}

async function play(track) {
  if (state.userId === null) throw new Error("choose a listener first");
  await api("/listen", { user_id: state.userId, item_id: track.item_id }, "POST");
  state.played.unshift(track);
  renderPlayed();
  await refreshLists(afterAListen());
}

async function dislike(track) {
  if (state.userId === null) throw new Error("choose a listener first");
  await api("/listen", { user_id: state.userId, item_id: track.item_id, kind: "dislike" }, "POST");
  await refreshLists(AFTER_FEEDBACK);
}

async function exclude(track) {
  if (!state.excluded.some((excluded) => excluded.item_id === track.item_id)) state.excluded.push(track);
  renderExcluded();
  await refreshLists(AFTER_FEEDBACK);
}

async function include(track) {
  state.excluded = state.excluded.filter((excluded) => excluded.item_id !== track.item_id);
  renderExcluded();
  await refreshLists(AFTER_FEEDBACK);
}

function renderExcluded() {
  const shown = $("#excluded");
  if (!state.excluded.length) {
    shown.textContent = "nothing";
    return;
  }
  shown.replaceChildren(...state.excluded.map((track) => {
    const chip = element("span", { class: "chip", "data-item": String(track.item_id), text: trackWords(track) });
    chip.append(trackButton("include", "↺", "Show it again",
      () => act(`included ${track.name ?? track.item_id}`, () => include(track))));
    return chip;
  }));
}

function renderPlayed() {
  const played = $("#played");
  if (!state.played.length) {
    played.textContent = "nothing yet";
    return;
  }
  played.replaceChildren(...state.played.slice(0, 8).map((track) => element("span", { class: "chip", text: trackWords(track) })));
}

async function search(query) {
  const results = $("#search-results");
  if (!query.trim()) {
    results.replaceChildren();
    return;
  }
  const { body } = await api("/search_tracks", { q: query, k: 8 });
  results.replaceChildren(...body.tracks.map((track) => trackItem(track, false)));
  if (!body.tracks.length) results.append(element("li", { class: "empty", text: "no track or artist by that name" }));
}

async function loadAbout() {
  renderAbout((await api("/about")).body);
}

function renderAbout(about) {
  const set = about.artifact_set;
  state.setName = set.name;
  state.serving = about.serving || {};
  for (const name of Object.keys(LISTS)) $(`.list[data-list="${name}"] .cap`).textContent = capWords(name);
  const made = set.created_at ? `, made ${set.created_at.slice(0, 16).replace("T", " ")} UTC` : "";
  const how = { true: ", settings tuned", false: ", quick (settings not tuned)" }[set.tuned] ?? "";
  $("#set").textContent = `artifact set: ${set.name}${made}${how}`;
  $("#docs").replaceChildren(...Object.entries(about.docs).map(([service, url]) =>
    element("a", { href: url, text: `${service} /docs` })));
  renderQuality(about.quality);
}

function renderQuality(quality) {
  const table = $("#quality-table");
  if (!quality || !quality.models) {
    table.textContent = "This artifact set has no metrics.json.";
    return;
  }
  const rows = Object.entries(quality.models);
  if (quality.cold_users && quality.cold_users.top_popular) rows.push(["cold users: top_popular", quality.cold_users.top_popular]);
  const available = new Set(rows.flatMap(([, metrics]) => Object.keys(metrics)));
  let columns = QUALITY_COLUMNS.filter((column) => available.has(column));
  if (!columns.length) columns = [...available];
  const header = element("tr", {}, element("th", { text: "model" }), ...columns.map((column) => element("th", { text: column })));
  const body = rows.map(([model, metrics]) => element("tr", {}, element("th", { text: model }),
    ...columns.map((column) => element("td", { text: typeof metrics[column] === "number" ? metrics[column].toFixed(4) : "" }))));
  table.replaceChildren(element("table", {}, element("thead", {}, header), element("tbody", {}, ...body)));
  const split = quality.split || {};
  $("#split").textContent = split.test_start ? `test period from ${split.test_start}, ${split.evaluated_users ?? "?"} users` : "";
  $("#quality-chart").replaceChildren(barChart(rows, available.has(CHART_METRIC) ? CHART_METRIC : columns[0]));
}

// A small horizontal bar chart of one metric per model, as inline SVG.
function barChart(rows, metric) {
  const ns = "http://www.w3.org/2000/svg";
  const svgElement = (tag, attributes) => {
    const node = document.createElementNS(ns, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  };
  const values = rows.map(([model, metrics]) => [model, Number(metrics[metric]) || 0]);
  const best = Math.max(...values.map(([, value]) => value), 1e-9);
  const rowHeight = 22, labelWidth = 170, barWidth = 240;
  const svg = svgElement("svg", { width: labelWidth + barWidth + 70, height: rowHeight * values.length + 24,
    role: "img", "aria-label": `${metric} per model` });
  const title = svgElement("text", { x: 0, y: 14, class: "chart-title" });
  title.textContent = metric;
  svg.append(title);
  values.forEach(([model, value], position) => {
    const y = 22 + position * rowHeight;
    const label = svgElement("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end" });
    label.textContent = model;
    const bar = svgElement("rect", { x: labelWidth, y: y + 3, height: rowHeight - 8,
      width: Math.max(1, (value / best) * barWidth), class: "bar" });
    const number = svgElement("text", { x: labelWidth + (value / best) * barWidth + 6, y: y + 14 });
    number.textContent = value.toFixed(4);
    svg.append(label, bar, number);
  });
  return svg;
}

async function sample(kind) {
  const { body } = await api("/sample_user", { kind });
  const words = { known: "a random known user", cold: "a cold user: no personal list, no listens",
    long: `a user with a long history (${body.listens} listens in the log)` };
  await chooseUser(body.user_id, `user ${body.user_id}: ${words[kind]}`);
}

function debounce(action, wait) {
  let timer = null;
  return (...args) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => action(...args), wait);
  };
}

function start() {
  $("#user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const userId = Number($("#user-id").value);
    act(`opened user ${userId}`, () => chooseUser(userId, `user ${userId}`));
  });
  for (const button of document.querySelectorAll("button.sample")) {
    button.addEventListener("click", () => act(`picked ${button.dataset.kind} user`, () => sample(button.dataset.kind)));
  }
  const searchBox = $("#search");
  searchBox.addEventListener("input", debounce(() => act("searched", () => search(searchBox.value)), 120));
  $("#cap").addEventListener("change", () => {
    state.cap = $("#cap").value;
    act("changed the cap per artist", () => refreshLists());
  });
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    window.localStorage.setItem(KEY_STORAGE, $("#api-key").value.trim());
    $("#key-form").hidden = true;
    const retry = state.pendingRetry;
    state.pendingRetry = null;
    if (retry) retry();
  });
  act("loaded", async () => {
    await loadAbout();
    const asked = new URLSearchParams(window.location.search).get("user_id");
    if (asked !== null && /^\d+$/.test(asked)) {
      await chooseUser(Number(asked), `user ${asked}`);
      return;
    }
    const { body } = await api(LISTS.default, listParams("default"));
    renderList("default", body);
  });
}

start();
