// The task view: the version timeline (checkpoints marked), any version as a JSON tree, and the
// diff between any two versions (computed by the package's `diffSnapshots`).
import { diffSnapshots } from "asap-state/web";
import { download, fileName, fmt, fmtTime, h, jsonText, pagerButtons, replace } from "./dom.js";
import { jsonTree } from "./tree.js";

/** Versions listed (and drawn on the timeline) per page, newest first. */
const PAGE = 200;
/** Diff rows shown before "… more". */
const MAX_DIFF_ROWS = 2000;
/** Above this many versions, the diff takes version numbers typed in rather than two lists. */
const MAX_SELECT = 2000;
const SVG = "http://www.w3.org/2000/svg";

/** Renders task `taskId` of `store` into `root`; `report(error)` shows an error. */
export function taskView(root, store, taskId, report) {
  const versions = store.listVersions(taskId); // ascending
  if (versions.length === 0) {
    replace(root, h("p", { class: "muted" }, "This task has no versions."));
    return;
  }
  const newestFirst = [...versions].reverse();
  let page = 0;
  let selected = newestFirst[0];
  const cache = new Map();
  const snapshot = (v) => {
    if (!cache.has(v)) {
      if (cache.size > 1000) cache.clear();
      cache.set(v, store.get(taskId, v));
    }
    return cache.get(v);
  };

  const timeline = document.createElementNS(SVG, "svg");
  timeline.setAttribute("class", "timeline");
  timeline.setAttribute("role", "img");
  timeline.dataset.testid = "timeline";
  const list = h("ol", { class: "versions", "data-testid": "versions" });
  const where = h("span", { class: "muted" });
  const older = h("button", { type: "button" }, "Older →");
  const newer = h("button", { type: "button" }, "← Newer");
  const versionTitle = h("div", { class: "panel-title", "data-testid": "version-title" });
  const versionBox = h("div");

  const pageVersions = () => newestFirst.slice(page * PAGE, (page + 1) * PAGE);

  const drawTimeline = (shown) => {
    const metas = [...shown].reverse().map((v) => snapshot(v)).filter(Boolean);
    timeline.replaceChildren();
    const width = timeline.clientWidth || 800;
    timeline.setAttribute("viewBox", `0 0 ${width} 46`);
    const t = metas.map((s) => Date.parse(s.created_at));
    const lo = Math.min(...t);
    const hi = Math.max(...t);
    const x = (ms) => (hi === lo ? width / 2 : 12 + ((ms - lo) / (hi - lo)) * (width - 24));
    const axis = document.createElementNS(SVG, "line");
    Object.entries({ x1: 8, x2: width - 8, y1: 18, y2: 18 }).forEach(([k, v]) => axis.setAttribute(k, v));
    timeline.append(axis);
    metas.forEach((s, i) => {
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", x(t[i]));
      dot.setAttribute("cy", 18);
      dot.setAttribute("r", s.checkpoint ? 6 : 4);
      dot.setAttribute("class", `dot${s.checkpoint ? " checkpoint" : ""}${s.version === selected ? " selected" : ""}`);
      const title = document.createElementNS(SVG, "title");
      title.textContent = `v${s.version}${s.checkpoint ? " (checkpoint)" : ""} · ${fmtTime(s.created_at)}`;
      dot.append(title);
      dot.addEventListener("click", () => select(s.version));
      timeline.append(dot);
    });
    for (const [ms, anchor, pos] of [[lo, "start", 12], [hi, "end", width - 12]]) {
      if (!Number.isFinite(ms)) continue;
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", pos);
      label.setAttribute("y", 40);
      label.setAttribute("text-anchor", anchor);
      label.textContent = fmtTime(new Date(ms).toISOString());
      timeline.append(label);
    }
  };

  const drawList = () => {
    const shown = pageVersions();
    replace(
      list,
      shown.map((v) => {
        const s = snapshot(v);
        return h(
          "li",
          null,
          h(
            "button",
            { type: "button", class: v === selected ? "selected" : "", "data-version": v, onclick: () => select(v) },
            h("span", null, h("strong", null, `v${v}`), s?.checkpoint ? h("span", { class: "cp" }, " ◆ checkpoint") : null),
            h("span", { class: "muted", title: s?.created_at ?? "" }, s ? fmtTime(s.created_at) : ""),
          ),
        );
      }),
    );
    newer.disabled = page === 0;
    older.disabled = (page + 1) * PAGE >= newestFirst.length;
    replace(where, `${fmt(page * PAGE + 1)}–${fmt(page * PAGE + shown.length)} of ${fmt(newestFirst.length)} versions`);
    drawTimeline(shown);
  };

  const select = (v) => {
    selected = v;
    const s = snapshot(v);
    drawList();
    if (!s) {
      replace(versionBox, h("p", { class: "muted" }, `Version ${v} is gone.`));
      return;
    }
    replace(
      versionTitle,
      `Version ${v}`,
      s.checkpoint ? h("span", { class: "cp" }, " ◆ checkpoint") : null,
      h("span", { class: "muted" }, ` · ${fmtTime(s.created_at)} · `),
      h("span", { class: "mono muted" }, s.id),
    );
    replace(versionBox, jsonTree(s.data));
  };

  pagerButtons(newer, older, (step) => {
    page += step;
    drawList();
  });

  // --- the diff
  const pick = (label, testid, initial) => {
    if (versions.length > MAX_SELECT) {
      return h("input", { type: "number", min: versions[0], max: versions.at(-1), step: 1, value: String(initial), "aria-label": label, "data-testid": testid });
    }
    return h(
      "select",
      { "aria-label": label, "data-testid": testid },
      newestFirst.map((v) => h("option", { value: String(v), selected: v === initial }, `v${v}`)),
    );
  };
  const fromPick = pick("Diff from version", "diff-from", newestFirst[1] ?? newestFirst[0]);
  const toPick = pick("Diff to version", "diff-to", newestFirst[0]);
  const diffSummary = h("span", { class: "muted", "data-testid": "diff-summary" });
  const diffBox = h("div", { "data-testid": "diff" });
  const compare = () => {
    try {
      const from = Number(fromPick.value);
      const to = Number(toPick.value);
      const a = snapshot(from);
      const b = snapshot(to);
      if (!a || !b) {
        replace(diffSummary, `Version ${!a ? from : to} does not exist.`);
        replace(diffBox);
        return;
      }
      const diff = diffSnapshots(a, b);
      replace(diffSummary, diff.changes.length === 0 ? `v${from} and v${to} hold the same data.` : `v${from} → v${to}: ${fmt(diff.added)} added, ${fmt(diff.removed)} removed, ${fmt(diff.changed)} changed`);
      const rows = diff.changes.slice(0, MAX_DIFF_ROWS).map((c) =>
        h(
          "tr",
          { class: c.op, "data-path": c.path },
          h("td", { class: "op" }, c.op),
          h("td", { class: "path mono" }, c.path === "" ? "(the whole data)" : c.path),
          h("td", { class: "val" }, "old" in c ? jsonText(c.old) : ""),
          h("td", { class: "val" }, "new" in c ? jsonText(c.new) : ""),
        ),
      );
      replace(
        diffBox,
        rows.length
          ? h("table", { class: "diff", "data-testid": "diff-table" }, h("thead", null, h("tr", null, h("th", null, "Change"), h("th", null, "Path (JSON Pointer)"), h("th", null, "Old"), h("th", null, "New"))), h("tbody", null, rows))
          : null,
        diff.changes.length > MAX_DIFF_ROWS ? h("p", { class: "muted" }, `… ${fmt(diff.changes.length - MAX_DIFF_ROWS)} more changes not shown.`) : null,
      );
    } catch (error) {
      report(error);
    }
  };

  const exportVersions = () => {
    try {
      const all = versions.map((v) => store.get(taskId, v)).filter(Boolean);
      download(`${fileName(taskId)}.versions.json`, JSON.stringify(all, null, 2), "application/json");
    } catch (error) {
      report(error);
    }
  };

  const checkpoints = versions.length <= PAGE ? versions.filter((v) => snapshot(v)?.checkpoint).length : null;
  replace(
    root,
    h(
      "div",
      { class: "toolbar" },
      h("h2", { class: "mono", "data-testid": "task-title" }, taskId),
      h("span", { class: "badge", "data-testid": "task-versions" }, `${fmt(versions.length)} version${versions.length === 1 ? "" : "s"}`),
      checkpoints === null ? null : h("span", { class: "badge" }, `${fmt(checkpoints)} checkpoint${checkpoints === 1 ? "" : "s"}`),
      h("button", { type: "button", onclick: exportVersions, "data-testid": "export-versions" }, "Download versions (JSON)"),
    ),
    timeline,
    h(
      "div",
      { class: "task-grid" },
      h("div", null, h("div", { class: "panel-title" }, "Versions ", where), list, h("div", { class: "pager" }, newer, older)),
      h("div", null, versionTitle, versionBox),
    ),
    h("div", { class: "panel-title" }, "Compare two versions"),
    h("div", { class: "toolbar" }, "from", fromPick, "to", toPick, h("button", { type: "button", class: "primary button", onclick: compare, "data-testid": "diff-run" }, "Show the diff"), diffSummary),
    diffBox,
  );
  select(selected);
  if (versions.length > 1) compare();
}
