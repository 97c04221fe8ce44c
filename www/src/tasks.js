// The tasks view: every task of the file, filtered by id, sorted, a page at a time.
import { fmt, fmtTime, h, pagerButtons, replace } from "./dom.js";

const PAGE = 100;

const SORTS = {
  task: ["task id", (a, b) => (a.task_id < b.task_id ? -1 : a.task_id > b.task_id ? 1 : 0)],
  updated: ["last update (newest first)", (a, b) => (a.latest_created_at < b.latest_created_at ? 1 : a.latest_created_at > b.latest_created_at ? -1 : 0)],
  versions: ["versions (most first)", (a, b) => b.versions - a.versions],
};

/** Renders the view into `root`; `openTask(taskId)` shows one task. */
export function tasksView(root, tasks, openTask) {
  let filter = "";
  let sort = "task";
  let page = 0;
  let rows = tasks;

  const search = h("input", {
    type: "search",
    placeholder: "Filter by task id",
    "aria-label": "Filter by task id",
    "data-testid": "task-filter",
  });
  const sortSelect = h(
    "select",
    { "aria-label": "Sort tasks", "data-testid": "task-sort" },
    Object.entries(SORTS).map(([key, [label]]) => h("option", { value: key }, `Sort by ${label}`)),
  );
  const count = h("span", { class: "muted", "data-testid": "task-count" });
  const body = h("tbody");
  const prev = h("button", { type: "button", "data-testid": "tasks-prev" }, "← Previous");
  const next = h("button", { type: "button", "data-testid": "tasks-next" }, "Next →");
  const where = h("span", { class: "muted", "data-testid": "tasks-page" });

  const update = () => {
    const needle = filter.trim().toLowerCase();
    rows = needle ? tasks.filter((t) => t.task_id.toLowerCase().includes(needle)) : tasks;
    if (sort !== "task") rows = [...rows].sort(SORTS[sort][1]); // listTasks is ordered by task id
    page = Math.min(page, Math.max(0, Math.ceil(rows.length / PAGE) - 1));
    draw();
  };

  const draw = () => {
    const first = page * PAGE;
    const shown = rows.slice(first, first + PAGE);
    replace(
      count,
      rows.length === tasks.length ? `${fmt(tasks.length)} tasks` : `${fmt(rows.length)} of ${fmt(tasks.length)} tasks match`,
    );
    replace(
      body,
      shown.map((t) =>
        h(
          "tr",
          { "data-task": t.task_id },
          h("td", null, h("button", { type: "button", class: "link mono", onclick: () => openTask(t.task_id) }, t.task_id)),
          h("td", { class: "num" }, fmt(t.versions)),
          h("td", { class: "num" }, fmt(t.latest_version)),
          h("td", { title: t.latest_created_at }, fmtTime(t.latest_created_at)),
          h("td", { class: "num" }, t.checkpoints ? h("span", { class: "cp" }, fmt(t.checkpoints)) : "0"),
        ),
      ),
      shown.length === 0 ? h("tr", null, h("td", { colspan: 5, class: "muted" }, "No task matches.")) : null,
    );
    prev.disabled = page === 0;
    next.disabled = first + PAGE >= rows.length;
    replace(where, rows.length ? `${fmt(first + 1)}–${fmt(first + shown.length)} of ${fmt(rows.length)}` : "");
  };

  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      filter = search.value;
      page = 0;
      update();
    }, 80);
  });
  sortSelect.addEventListener("change", () => {
    sort = sortSelect.value;
    page = 0;
    update();
  });
  pagerButtons(prev, next, (step) => {
    page += step;
    draw();
  });

  replace(
    root,
    h("div", { class: "toolbar" }, search, sortSelect, count),
    h(
      "table",
      { "data-testid": "tasks-table" },
      h(
        "thead",
        null,
        h("tr", null, h("th", null, "Task"), h("th", { class: "num" }, "Versions"), h("th", { class: "num" }, "Latest"), h("th", null, "Last update"), h("th", { class: "num" }, "Checkpoints")),
      ),
      body,
    ),
    h("div", { class: "pager" }, prev, next, where),
  );
  update();
}
