// A collapsible JSON tree built from text nodes only.
import { fmt, h } from "./dom.js";

/** Children shown per object or array before a "… more" line. */
const MAX_CHILDREN = 500;

function leaf(value) {
  if (value === null) return h("span", { class: "null" }, "null");
  switch (typeof value) {
    case "string":
      return h("span", { class: "string" }, JSON.stringify(value));
    case "number":
      return h("span", { class: "number" }, String(value));
    case "boolean":
      return h("span", { class: "boolean" }, String(value));
    default:
      return h("span", { class: "meta" }, String(value));
  }
}

function node(label, value, depth, openDepth) {
  const key = label === undefined ? [] : [h("span", { class: "key" }, label), ": "];
  if (value === null || typeof value !== "object") return h("div", { class: "row" }, key, leaf(value));
  const isArray = Array.isArray(value);
  const entries = isArray ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  const count = isArray ? `[${fmt(entries.length)} item${entries.length === 1 ? "" : "s"}]` : `{${fmt(entries.length)} key${entries.length === 1 ? "" : "s"}}`;
  if (entries.length === 0) return h("div", { class: "row" }, key, h("span", { class: "meta" }, isArray ? "[]" : "{}"));
  const details = h("details", { open: depth < openDepth }, h("summary", null, key, h("span", { class: "meta" }, count)));
  // Children are built when first opened, so a large closed subtree costs nothing.
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    for (const [k, v] of entries.slice(0, MAX_CHILDREN)) {
      details.append(node(isArray ? `[${k}]` : JSON.stringify(k), v, depth + 1, openDepth));
    }
    if (entries.length > MAX_CHILDREN) {
      details.append(h("div", { class: "row meta" }, `… ${fmt(entries.length - MAX_CHILDREN)} more not shown (download the versions as JSON to see them all)`));
    }
  };
  if (details.open) build();
  details.addEventListener("toggle", build);
  return details;
}

/** The tree of `value`, open to `openDepth` levels. */
export function jsonTree(value, openDepth = 2) {
  return h("div", { class: "tree", "data-testid": "json-tree" }, node(undefined, value, 0, openDepth));
}
