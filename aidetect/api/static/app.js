// aidetect's page: submit a text, follow its task, show each sentence on a colour scale.
// No framework and no build step; everything it loads comes from this API.
"use strict";

const TOKEN_KEY = "aidetect.token";
const TERMINAL = new Set(["Succeeded", "Failed", "Cancelled"]);
const DEMO_MODEL = "demo-untrained";
const state = { profiles: [], current: null, timer: null, listTimer: null };

const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function notice(text) {
  const el = $("notice");
  el.textContent = text || "";
  el.hidden = !text;
}

function askForToken(why) {
  $("token-section").hidden = false;
  if (why) $("token-help").textContent = why;
  $("token-input").focus();
}

class ApiError extends Error {}

async function api(path, options = {}) {
  if (!token()) {
    askForToken();
    throw new ApiError("enter the API token first");
  }
  const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(
      "The API refused this token (401). Enter a valid one: a tenant's token from your " +
        "administrator, or the admin token (AIDETECT_API_TOKEN).",
    );
    throw new ApiError("the token was refused");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    throw new ApiError(`${response.status}: ${message}`);
  }
  return body;
}

// --- profiles ------------------------------------------------------------------------------

async function loadProfiles() {
  const listing = await api("/profiles");
  state.profiles = listing.items;
  const select = $("profile-select");
  select.replaceChildren(
    ...listing.items.map((p) => {
      const option = document.createElement("option");
      option.value = p.name;
      option.textContent = `${p.name} (${p.kind})${p.default ? " — default" : ""}`;
      return option;
    }),
  );
  showProfileInfo();
}

function profileNamed(name) {
  return state.profiles.find((p) => p.name === name);
}

function showProfileInfo() {
  const p = profileNamed($("profile-select").value);
  const loaded = p && p.modelVersions.length ? `loaded: ${p.modelVersions.join(", ")}` : "no worker seen";
  $("profile-info").textContent = p
    ? `${p.kind} on ${p.model}${p.referenceModel ? " + " + p.referenceModel : ""} (${loaded}); ` +
      `threshold ${p.threshold}; a ${p.higherIsAi ? "higher" : "lower"} score means more likely AI`
    : "";
  $("profile-info").classList.toggle("warning", Boolean(p && p.modelVersions.includes(DEMO_MODEL)));
}

// --- submitting and following a task --------------------------------------------------------

async function submit(event) {
  event.preventDefault();
  notice("");
  const raw = $("text-input").value;
  const body = {
    detector: $("profile-select").value || undefined,
    granularity: $("granularity-select").value,
  };
  if ($("batch-input").checked) {
    body.texts = raw.split(/\r?\n/).filter((line) => line.trim() !== "");
  } else {
    body.text = raw;
  }
  $("submit-button").disabled = true;
  try {
    const created = await api("/predict", { method: "POST", body: JSON.stringify(body) });
    follow(created.taskId, created.name, body.texts || [body.text]);
    refreshList();
  } catch (e) {
    notice(`Not submitted: ${e.message}`);
  } finally {
    $("submit-button").disabled = false;
  }
}

function follow(taskId, name, texts) {
  clearTimeout(state.timer);
  state.current = { id: taskId, texts };
  $("task-section").hidden = false;
  $("task-name").textContent = name || taskId;
  $("task-phase").textContent = "Pending";
  $("task-message").textContent = "";
  $("result").hidden = true;
  $("demo-warning").hidden = true;
  $("cancel-button").hidden = false;
  poll();
}

async function poll() {
  const current = state.current;
  if (!current) return;
  let task;
  try {
    task = await api(`/status/${current.id}`);
  } catch (e) {
    if (!String(e.message).startsWith("404")) notice(e.message);
    state.timer = setTimeout(poll, 500); // a new task appears once the operator recorded it
    return;
  }
  if (state.current !== current) return;
  showTask(task);
  if (TERMINAL.has(task.phase)) {
    $("cancel-button").hidden = true;
    refreshList();
    if (task.phase === "Succeeded") await showResult(task, current);
  } else {
    state.timer = setTimeout(poll, 500);
  }
}

function showTask(task) {
  $("task-phase").textContent = task.phase;
  $("task-message").textContent = task.message || "";
  const { total, done, failed } = task.progress;
  const bar = $("task-progress");
  bar.max = total;
  bar.value = done + failed;
  $("task-progress-text").textContent = `${done + failed}/${total}`;
}

async function cancel() {
  const current = state.current;
  if (!current) return;
  try {
    await api(`/tasks/${current.id}`, { method: "DELETE" });
    notice("Cancel requested.");
  } catch (e) {
    notice(`Not cancelled: ${e.message}`);
  }
}

// --- the result -------------------------------------------------------------------------------

function fmt(value) {
  return value === null || value === undefined ? "—" : Number(value).toPrecision(4);
}

async function showResult(task, current) {
  const r = task.result;
  $("result-score").textContent = fmt(r.score);
  $("result-label").textContent = r.label;
  $("result-probability").textContent = fmt(r.probability);
  $("result-threshold").textContent = fmt(r.threshold);
  $("result-chunks").textContent = task.items.map((i) => i.chunks).join(", ");
  $("result-model").textContent = `${r.detector}: ${r.modelVersion}`;
  $("demo-warning").hidden = !task.items.some((i) => i.modelVersion === DEMO_MODEL);
  const profile = profileNamed(task.detector);
  const higherIsAi = profile ? profile.higherIsAi : true;
  $("legend").replaceChildren(legend(higherIsAi));
  let texts = current.texts;
  if (!texts) texts = (await api(`/status/${task.id}/texts`)).texts;
  $("items").replaceChildren(...task.items.map((item) => renderItem(item, texts[item.index], higherIsAi)));
  $("result").hidden = false;
}

// How AI-like a score is, from 0 (human side) to 1 (AI side), around the item's threshold: the
// colour scale points the same way whatever the kind, and the legend says which way the score goes.
function aiLevel(score, threshold, higherIsAi, spread) {
  const signed = (higherIsAi ? score - threshold : threshold - score) / spread;
  return 1 / (1 + Math.exp(-signed));
}

function colourOf(level) {
  const hue = Math.round(120 * (1 - level)); // 120 green (human) .. 0 red (AI)
  return `hsl(${hue} 85% 80%)`;
}

function legend(higherIsAi) {
  const wrap = document.createElement("span");
  const low = document.createElement("span");
  low.className = "swatch";
  low.style.background = colourOf(0);
  const high = document.createElement("span");
  high.className = "swatch";
  high.style.background = colourOf(1);
  wrap.append(
    low,
    " looks human-written … ",
    high,
    ` looks generated (for this detector a ${higherIsAi ? "higher" : "lower"} score means more likely AI)`,
  );
  return wrap;
}

function renderItem(item, text, higherIsAi) {
  const block = document.createElement("article");
  block.className = "item";
  block.dataset.index = item.index;
  const heading = document.createElement("h3");
  heading.textContent = `Text ${item.index + 1}: ${item.label} (score ${fmt(item.score)})`;
  block.append(heading);
  const body = document.createElement("p");
  body.className = "text";
  const chars = Array.from(text || ""); // offsets count code points, as the API does
  const sentences = item.sentences || [];
  const scores = sentences.map((s) => s.score);
  const spread = Math.max(1e-6, ...scores.map((s) => Math.abs(s - item.threshold)));
  let at = 0;
  for (const s of sentences) {
    if (s.start > at) body.append(chars.slice(at, s.start).join(""));
    const mark = document.createElement("mark");
    const level = aiLevel(s.score, item.threshold, higherIsAi, spread);
    mark.textContent = chars.slice(s.start, s.end).join("");
    mark.style.background = colourOf(level);
    mark.tabIndex = 0;
    mark.dataset.start = s.start;
    mark.dataset.end = s.end;
    mark.dataset.score = s.score;
    mark.dataset.level = level.toFixed(6);
    const says = `score ${fmt(s.score)}${s.label ? ` (${s.label})` : ""}`;
    mark.setAttribute("aria-label", `${mark.textContent} — ${says}`);
    mark.title = says;
    mark.addEventListener("mouseenter", () => showTip(mark, says));
    mark.addEventListener("focus", () => showTip(mark, says));
    mark.addEventListener("mouseleave", hideTip);
    mark.addEventListener("blur", hideTip);
    body.append(mark);
    at = s.end;
  }
  if (at < chars.length) body.append(chars.slice(at).join(""));
  block.append(body);
  return block;
}

function showTip(mark, says) {
  const tip = $("tooltip");
  tip.textContent = says;
  tip.hidden = false;
  const box = mark.getBoundingClientRect();
  tip.style.left = `${window.scrollX + box.left}px`;
  tip.style.top = `${window.scrollY + box.bottom + 4}px`;
}

function hideTip() {
  $("tooltip").hidden = true;
}

// --- the task list ----------------------------------------------------------------------------

async function refreshList() {
  clearTimeout(state.listTimer);
  if (!token()) return;
  const phase = $("phase-filter").value;
  try {
    const page = await api(`/tasks?limit=25${phase ? `&phase=${phase}` : ""}`);
    $("task-table").tBodies[0].replaceChildren(...page.items.map(taskRow));
  } catch (e) {
    notice(e.message);
  }
  state.listTimer = setTimeout(refreshList, 2000);
}

function taskRow(task) {
  const row = document.createElement("tr");
  row.tabIndex = 0;
  row.dataset.taskId = task.id;
  row.dataset.phase = task.phase;
  const cells = [
    task.name,
    task.phase,
    task.detector,
    `${task.progress.done + task.progress.failed}/${task.progress.total}`,
    task.result ? task.result.label : "",
    new Date(task.createdAt).toLocaleString(),
  ];
  for (const value of cells) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  const open = () => follow(task.id, task.name, null);
  row.addEventListener("click", open);
  row.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      open();
    }
  });
  return row;
}

// --- wiring -----------------------------------------------------------------------------------

function readFile(file) {
  if (!file) return;
  file.text().then((text) => {
    $("text-input").value = text;
  });
}

async function start() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    $("token-section").hidden = true;
    notice("");
    startWithToken();
  });
  $("submit-form").addEventListener("submit", submit);
  $("profile-select").addEventListener("change", showProfileInfo);
  $("phase-filter").addEventListener("change", refreshList);
  $("cancel-button").addEventListener("click", cancel);
  $("file-input").addEventListener("change", (e) => readFile(e.target.files[0]));
  const area = $("text-input");
  area.addEventListener("dragover", (e) => e.preventDefault());
  area.addEventListener("drop", (e) => {
    e.preventDefault();
    readFile(e.dataTransfer.files[0]);
  });
  if (token()) startWithToken();
  else askForToken();
}

async function startWithToken() {
  try {
    await loadProfiles();
    refreshList();
  } catch (e) {
    notice(e.message);
  }
}

document.addEventListener("DOMContentLoaded", start);
