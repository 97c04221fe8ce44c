// The asap-state inspector: opens a SQLite state file in memory with the package's web build and
// shows its tasks, versions, diffs and usage. Nothing is sent anywhere; nothing is written back.
import init, { SqliteStateDb, StateError, mergeStateImages } from "asap-state/web";
import { download, fileName, fmt, fmtBytes, h, paint, replace } from "./dom.js";
import { tasksView } from "./tasks.js";
import { taskView } from "./task.js";
import { usageView } from "./usage.js";

const WASM_URL = new URL("./asap_state_bg.wasm", import.meta.url);
const DEMO_URL = new URL("./demo.db", import.meta.url);
const $ = (id) => document.getElementById(id);

const state = {
  /** @type {SqliteStateDb | null} */
  db: null,
  name: "",
  tasks: [],
  view: "tasks",
  taskId: null,
  disposeUsage: () => {},
};

// ---------------------------------------------------------------- errors, shown, never a blank page
function showError(error, context) {
  const box = $("error");
  const code = error instanceof StateError ? error.code : error?.name ?? "Error";
  const message = error instanceof Error ? error.message : String(error);
  replace(box, h("span", { class: "code", "data-testid": "error-code" }, code), context ? `${context}: ` : "", message);
  box.hidden = false;
  if (document.body.dataset.state === "opening") document.body.dataset.state = "error";
}
const clearError = () => {
  $("error").hidden = true;
};
window.addEventListener("error", (e) => showError(e.error ?? e.message, "Unexpected error"));
window.addEventListener("unhandledrejection", (e) => showError(e.reason, "Unexpected error"));

// ---------------------------------------------------------------- the engine (wasm), with progress
// Downloaded once at start. A file picked or dropped before it is ready waits for it (the status
// line says so) and opens then; only the last one picked opens.
const engine = { ready: false, received: 0, total: 0, waiting: null, ticket: null, loaded: null };

function engineStatus() {
  const { received, total, waiting } = engine;
  if (waiting !== null) {
    const done = total ? `${Math.floor((received / total) * 100)} %` : fmtBytes(received);
    return `Loading the engine (${done}) — ${waiting} will open when it is ready`;
  }
  return `Loading the engine… ${fmtBytes(received)}${total ? ` of ${fmtBytes(total)}` : ""}`;
}

async function loadEngine() {
  const status = $("engine-status");
  const bar = $("engine-progress");
  const response = await fetch(WASM_URL);
  if (!response.ok) throw new Error(`could not load ${WASM_URL.pathname}: HTTP ${response.status}`);
  engine.total = Number(response.headers.get("content-length")) || 0;
  const chunks = [];
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    engine.received += value.length;
    if (engine.total) bar.value = engine.received / engine.total;
    replace(status, engineStatus());
  }
  const bytes = new Uint8Array(engine.received);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  await init({ module_or_path: bytes });
  engine.ready = true;
  bar.hidden = true;
  replace(status, `Engine ready (${fmtBytes(engine.received)} of WebAssembly). Pick a file to start.`);
}
engine.loaded = loadEngine();

/** Resolves true once the engine is ready, false if another file was picked meanwhile. */
async function engineFor(name) {
  if (engine.ready) return true;
  const ticket = Symbol(name);
  engine.waiting = name;
  engine.ticket = ticket;
  document.body.dataset.state = "waiting";
  replace($("engine-status"), engineStatus());
  try {
    await engine.loaded;
  } finally {
    if (engine.ticket === ticket) engine.waiting = null;
  }
  return engine.ticket === ticket;
}

// ---------------------------------------------------------------- opening a file
async function openBytes(name, bytes) {
  clearError();
  closeCurrent();
  document.body.dataset.state = "opening";
  replace($("summary"), h("div", { class: "stat file" }, h("div", { class: "label" }, "Opening"), h("div", { class: "value" }, name)));
  $("summary").hidden = false;
  $("welcome").hidden = true;
  await paint();
  const t0 = performance.now();
  let db;
  try {
    db = await SqliteStateDb.open({ bytes });
  } catch (error) {
    summaryError(name, bytes.length, error);
    return;
  }
  try {
    const tasks = db.snapshots.listTasks();
    const agents = db.metering.agents();
    const aggregates = agents.map((a) => db.metering.aggregate(a, "all"));
    const ms = performance.now() - t0;
    Object.assign(state, { db, name, tasks, agents, aggregates, taskId: null });
    const snapshots = tasks.reduce((n, t) => n + t.versions, 0);
    const events = aggregates.reduce((n, a) => n + a.total_tasks, 0);
    // Bytes 18-19 of the header: 2 = WAL mode (rows still in a -wal file beside it are not in these bytes).
    const wal = bytes.length > 19 && bytes[18] === 2;
    replace(
      $("summary"),
      stat("File", name, "file", `${fmtBytes(bytes.length)}${wal ? " · WAL-mode file: a -wal file beside it is not read" : ""}`, "file"),
      stat("Schema", "ok", "ok", "snapshots + usage_events", "schema"),
      stat("Tasks", fmt(tasks.length), "", null, "tasks"),
      stat("Snapshots", fmt(snapshots), "", null, "snapshots"),
      stat("Usage events", fmt(events), "", null, "events"),
      stat("Agents", fmt(agents.length), "", null, "agents"),
      stat("Opened in", `${fmt(Math.round(ms))} ms`, "", null, "open-ms"),
    );
    $("download-db").disabled = false;
    $("tabs").hidden = false;
    document.body.dataset.state = "open";
    show("tasks");
  } catch (error) {
    db.close();
    summaryError(name, bytes.length, error);
  }
}

function stat(label, value, kind = "", detail = null, testid = undefined) {
  return h(
    "div",
    { class: `stat ${kind}`, "data-testid": testid ? `stat-${testid}` : undefined },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    detail ? h("div", { class: "muted" }, detail) : null,
  );
}

function summaryError(name, size, error) {
  const code = error instanceof StateError ? error.code : error?.name ?? "Error";
  replace(
    $("summary"),
    stat("File", name, "file", fmtBytes(size), "file"),
    stat("Schema", code, "bad", error?.message ?? String(error), "schema"),
  );
  showError(error, `Could not open ${name}`);
  document.body.dataset.state = "error";
}

function closeCurrent() {
  state.disposeUsage();
  state.disposeUsage = () => {};
  if (state.db) {
    try {
      state.db.close();
    } catch {
      // already closed
    }
  }
  state.db = null;
  $("download-db").disabled = true;
  $("tabs").hidden = true;
  for (const v of ["tasks", "task", "usage"]) $(`view-${v}`).hidden = true;
  $("tabs").querySelector('[data-view="task"]').disabled = true;
}

async function openFile(file) {
  try {
    if (!(await engineFor(file.name))) return;
  } catch (error) {
    showError(error, `The engine did not load, so ${file.name} could not be opened`);
    return;
  }
  try {
    await openBytes(file.name, new Uint8Array(await file.arrayBuffer()));
  } catch (error) {
    showError(error, `Could not read ${file.name}`);
  }
}

/**
 * A live deployment of examples/durable-objects: every page of `GET /state.db` (100 tasks each,
 * one SQLite file each), merged into one file and opened like any other. The token goes only into
 * the requests' Authorization header.
 */
async function openDeployment(address, token) {
  let base;
  try {
    base = new URL(address.endsWith("/") ? address : `${address}/`);
  } catch {
    showError(new Error(`${JSON.stringify(address)} is not an address`), "Could not open the deployment");
    return;
  }
  try {
    if (!(await engineFor(base.host))) return;
  } catch (error) {
    showError(error, "The engine did not load, so the deployment could not be opened");
    return;
  }
  const name = `${base.host} (live)`;
  const images = [];
  let after = "";
  try {
    for (;;) {
      replace($("engine-status"), `Downloading ${name}: page ${images.length + 1}…`);
      // The address's `tenant` (another tenant's tasks, or `*` for all) is kept.
      const url = new URL("state.db", base);
      const tenant = base.searchParams.get("tenant");
      if (tenant !== null) url.searchParams.set("tenant", tenant);
      url.searchParams.set("limit", "100");
      url.searchParams.set("after", decodeURIComponent(after));
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
      if (!response.ok) {
        const body = await response.text();
        let reason = body;
        try {
          reason = JSON.parse(body).error ?? body;
        } catch {
          // not JSON: the text as it is
        }
        throw new Error(`${url.origin}${url.pathname} answered ${response.status}: ${reason}`);
      }
      images.push(new Uint8Array(await response.arrayBuffer()));
      const next = response.headers.get("x-asap-state-next");
      if (!next) break;
      after = next;
    }
  } catch (error) {
    showError(error, `Could not download ${name}`);
    return;
  }
  try {
    await openBytes(name, images.length === 1 ? images[0] : mergeStateImages(images));
  } catch (error) {
    showError(error, `Could not open ${name}`);
  }
}

$("remote").addEventListener("submit", async (e) => {
  e.preventDefault();
  resetViews();
  await openDeployment($("remote-url").value.trim(), $("remote-token").value);
});

// ---------------------------------------------------------------- views
function show(view, taskId) {
  if (!state.db) return;
  state.view = view;
  for (const tab of $("tabs").querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === view);
  for (const v of ["tasks", "task", "usage"]) $(`view-${v}`).hidden = v !== view;
  const report = (error) => showError(error);
  try {
    if (view === "tasks" && !$("view-tasks").dataset.built) {
      tasksView($("view-tasks"), state.tasks, (id) => show("task", id));
      $("view-tasks").dataset.built = "1";
    } else if (view === "task") {
      if (taskId !== undefined) state.taskId = taskId;
      const tab = $("tabs").querySelector('[data-view="task"]');
      tab.disabled = state.taskId === null;
      if (taskId !== undefined) {
        tab.textContent = "Task";
        taskView($("view-task"), state.db.snapshots, state.taskId, report);
      }
    } else if (view === "usage" && !$("view-usage").dataset.built) {
      state.disposeUsage = usageView($("view-usage"), state.db.metering, state.agents, state.aggregates, report);
      $("view-usage").dataset.built = "1";
    }
  } catch (error) {
    report(error);
  }
}

for (const tab of $("tabs").querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.view));

// The views of the previous file are rebuilt for the next one.
const resetViews = () => {
  for (const v of ["tasks", "task", "usage"]) {
    delete $(`view-${v}`).dataset.built;
    $(`view-${v}`).replaceChildren();
  }
};

// ---------------------------------------------------------------- file picker, drop, demo, download
$("file-input").addEventListener("change", async (e) => {
  const [file] = e.target.files;
  e.target.value = "";
  if (file) {
    resetViews();
    await openFile(file);
  }
});

let dragDepth = 0;
document.addEventListener("dragenter", (e) => {
  if (!e.dataTransfer?.types.includes("Files")) return;
  dragDepth += 1;
  $("drop").hidden = false;
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $("drop").hidden = true;
});
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", async (e) => {
  e.preventDefault();
  dragDepth = 0;
  $("drop").hidden = true;
  const [file] = e.dataTransfer?.files ?? [];
  if (file) {
    resetViews();
    await openFile(file);
  }
});

$("open-demo").addEventListener("click", async () => {
  try {
    const response = await fetch(DEMO_URL);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    resetViews();
    await openBytes("demo.db", new Uint8Array(await response.arrayBuffer()));
  } catch (error) {
    showError(error, "Could not load the demo file");
  }
});

$("download-db").addEventListener("click", () => {
  try {
    if (state.db) download(`${fileName(state.name.replace(/\.[^.]*$/, ""))}.export.db`, state.db.exportBytes(), "application/vnd.sqlite3");
  } catch (error) {
    showError(error);
  }
});

// ---------------------------------------------------------------- start
document.body.dataset.state = "loading";
try {
  await engine.loaded;
  // A file that waited for the engine opens now (its own state: "opening").
  if (engine.waiting === null) document.body.dataset.state = "ready";
  const demo = await fetch(DEMO_URL, { method: "HEAD" }).catch(() => null);
  if (demo?.ok) {
    $("open-demo").hidden = false;
    // ?demo opens the demo, unless a file was picked while the engine loaded (that one opens).
    if (new URLSearchParams(location.search).has("demo") && engine.ticket === null) $("open-demo").click();
  }
} catch (error) {
  document.body.dataset.state = "error";
  showError(error, "The engine did not load");
}
