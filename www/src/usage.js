// The usage view: every agent's totals (`aggregate`), and a chart of one agent's (or all agents')
// tokens, API calls or duration per hour or per day over a chosen range (`series`).
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { download, fmt, h, replace } from "./dom.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

const ALL = "";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** More hourly buckets than this in the range: the chart switches to days. */
const MAX_SLOTS = 2000;
const METRICS = {
  total_tokens: { label: "Tokens", unit: "tokens (in + out)" },
  total_api_calls: { label: "API calls", unit: "API calls" },
  total_duration: { label: "Duration", unit: "duration (ms)" },
  total_tasks: { label: "Events", unit: "events" },
};
const FIELDS = Object.keys(METRICS);

/** The first and last event times of `agents` (ms), or null without events. */
function eventRange(metering, agents, aggregates) {
  let lo = Infinity;
  let hi = -Infinity;
  agents.forEach((agent, i) => {
    const count = aggregates[i].total_tasks;
    if (!count) return;
    const [first] = metering.query(agent, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", { limit: 1 });
    const [last] = metering.query(agent, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", { limit: 1, offset: count - 1 });
    if (first) lo = Math.min(lo, Date.parse(first.timestamp));
    if (last) hi = Math.max(hi, Date.parse(last.timestamp));
  });
  return Number.isFinite(lo) ? [lo, hi] : null;
}

const day = (ms) => new Date(ms).toISOString().slice(0, 10);

/** Renders the view into `root`. */
export function usageView(root, metering, agents, aggregates, report) {
  if (agents.length === 0) {
    replace(root, h("p", { class: "muted", "data-testid": "no-usage" }, "This file holds no usage events."));
    return () => {};
  }
  const range = eventRange(metering, agents, aggregates);
  const totals = FIELDS.map((f) => aggregates.reduce((sum, a) => sum + a[f], 0));

  const agentSelect = h(
    "select",
    { "aria-label": "Agent", "data-testid": "usage-agent" },
    h("option", { value: ALL }, `All agents (${fmt(agents.length)})`),
    agents.map((a) => h("option", { value: a }, a)),
  );
  const bucketSelect = h(
    "select",
    { "aria-label": "Bucket", "data-testid": "usage-bucket" },
    h("option", { value: "hour" }, "per hour"),
    h("option", { value: "day" }, "per day"),
  );
  const metricSelect = h(
    "select",
    { "aria-label": "Metric", "data-testid": "usage-metric" },
    FIELDS.map((f) => h("option", { value: f }, METRICS[f].label)),
  );
  const startInput = h("input", { type: "date", "aria-label": "From (UTC day)", "data-testid": "usage-start", value: range ? day(range[0]) : "" });
  const endInput = h("input", { type: "date", "aria-label": "To (UTC day, included)", "data-testid": "usage-end", value: range ? day(range[1]) : "" });
  if (range && range[1] - range[0] > 3 * DAY) bucketSelect.value = "day";
  const note = h("span", { class: "muted", "data-testid": "usage-note" });
  const canvas = h("canvas", { "aria-label": "Usage chart", role: "img" });
  const box = h("div", { class: "chart-box", "data-testid": "usage-chart" }, canvas);
  let chart;

  const chosenWindow = () => {
    const start = `${startInput.value}T00:00:00Z`;
    const endMs = Date.parse(`${endInput.value}T00:00:00Z`) + DAY; // the end day is included
    return { start, end: new Date(endMs).toISOString(), startMs: Date.parse(start), endMs };
  };

  const draw = () => {
    try {
      const { start, end, startMs, endMs } = chosenWindow();
      if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) {
        replace(note, "Choose a start day on or before the end day.");
        return;
      }
      let bucket = bucketSelect.value;
      if (bucket === "hour" && (endMs - startMs) / HOUR > MAX_SLOTS) {
        bucket = "day";
        bucketSelect.value = "day";
      }
      const step = bucket === "hour" ? HOUR : DAY;
      const chosen = agentSelect.value === ALL ? agents : [agentSelect.value];
      // One slot per hour/day of the range; `series` gives the buckets that hold events.
      const slots = new Map();
      for (let t = startMs; t < endMs; t += step) slots.set(t, Object.fromEntries(FIELDS.map((f) => [f, 0])));
      const withEvents = new Set();
      for (const agent of chosen) {
        for (const b of metering.series(agent, { bucket, start, end })) {
          const t = Date.parse(b.start);
          withEvents.add(t);
          const slot = slots.get(t) ?? Object.fromEntries(FIELDS.map((f) => [f, 0]));
          for (const f of FIELDS) slot[f] += b[f];
          slots.set(t, slot);
        }
      }
      const times = [...slots.keys()].sort((a, b) => a - b);
      const metric = metricSelect.value;
      const label = (t) => (bucket === "hour" ? `${new Date(t).toISOString().slice(0, 13).replace("T", " ")}:00` : day(t));
      box.dataset.buckets = String(withEvents.size);
      box.dataset.slots = String(times.length);
      box.dataset.bucket = bucket;
      box.dataset.metric = metric;
      replace(
        note,
        `${fmt(withEvents.size)} of ${fmt(times.length)} ${bucket === "hour" ? "hours" : "days"} (UTC) hold events`,
      );
      const data = {
        labels: times.map(label),
        datasets: [
          {
            label: `${METRICS[metric].label} per ${bucket}${agentSelect.value === ALL ? " (all agents)" : ` (${agentSelect.value})`}`,
            data: times.map((t) => slots.get(t)[metric]),
            backgroundColor: "#2f6fdf",
          },
        ],
      };
      const tooltip = (items) => {
        const slot = slots.get(times[items[0].dataIndex]);
        return [
          `tokens: ${fmt(slot.total_tokens)}`,
          `API calls: ${fmt(slot.total_api_calls)}`,
          `duration: ${fmt(slot.total_duration)} ms`,
          `events: ${fmt(slot.total_tasks)}`,
        ];
      };
      if (chart) chart.destroy();
      chart = new Chart(canvas, {
        type: "bar",
        data,
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: {
            x: { title: { display: true, text: `UTC ${bucket}` }, ticks: { autoSkip: true, maxRotation: 0 } },
            y: { beginAtZero: true, title: { display: true, text: METRICS[metric].unit }, ticks: { callback: (v) => fmt(v) } },
          },
          plugins: {
            legend: { display: true },
            tooltip: { callbacks: { footer: tooltip, label: (item) => `${METRICS[metric].label}: ${fmt(item.parsed.y)}` } },
          },
        },
      });
      box.dataset.rendered = "true";
    } catch (error) {
      report(error);
    }
  };

  const exportCsv = () => {
    try {
      const { start, end } = chosenWindow();
      const filter = { start, end: new Date(Date.parse(end) - 1).toISOString() };
      if (agentSelect.value !== ALL) filter.agentId = agentSelect.value;
      const csv = metering.export("csv", filter);
      download(`usage-${agentSelect.value || "all-agents"}-${startInput.value}-${endInput.value}.csv`.replace(/[^A-Za-z0-9._-]+/g, "_"), csv, "text/csv");
    } catch (error) {
      report(error);
    }
  };

  for (const el of [agentSelect, bucketSelect, metricSelect, startInput, endInput]) el.addEventListener("change", draw);

  replace(
    root,
    h(
      "table",
      { "data-testid": "agents-table" },
      h(
        "thead",
        null,
        h("tr", null, h("th", null, "Agent"), h("th", { class: "num" }, "Events"), h("th", { class: "num" }, "Tokens"), h("th", { class: "num" }, "API calls"), h("th", { class: "num" }, "Duration (ms)")),
      ),
      h(
        "tbody",
        null,
        agents.map((a, i) =>
          h(
            "tr",
            { "data-agent": a },
            h("td", { class: "mono" }, a),
            h("td", { class: "num" }, fmt(aggregates[i].total_tasks)),
            h("td", { class: "num" }, fmt(aggregates[i].total_tokens)),
            h("td", { class: "num" }, fmt(aggregates[i].total_api_calls)),
            h("td", { class: "num" }, fmt(aggregates[i].total_duration)),
          ),
        ),
        agents.length > 1
          ? h(
              "tr",
              { class: "muted" },
              h("td", null, "all agents"),
              h("td", { class: "num" }, fmt(totals[3])),
              h("td", { class: "num" }, fmt(totals[0])),
              h("td", { class: "num" }, fmt(totals[1])),
              h("td", { class: "num" }, fmt(totals[2])),
            )
          : null,
      ),
    ),
    h("div", { class: "panel-title" }, "Usage over time"),
    h(
      "div",
      { class: "toolbar" },
      agentSelect,
      metricSelect,
      bucketSelect,
      "from",
      startInput,
      "to",
      endInput,
      h("button", { type: "button", onclick: exportCsv, "data-testid": "export-csv" }, "Download usage (CSV)"),
    ),
    note,
    box,
  );
  draw();
  return () => chart?.destroy();
}
