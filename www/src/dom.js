// DOM helpers. Every string from a state file reaches the page through text nodes or
// attribute values set here by name; nothing is ever parsed as HTML.

/** `h("td", { class: "num" }, "42")`: an element; strings and numbers become text nodes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "value" || name === "checked" || name === "selected" || name === "disabled") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const integer = new Intl.NumberFormat("en-US");

/** 1234567 → "1,234,567". */
export const fmt = (n) => integer.format(n);

/** Bytes as KiB/MiB. */
export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** "2026-03-01T00:13:00.123456+00:00" → "2026-03-01 00:13:00 UTC" (the stored text is kept in the title). */
export function fmtTime(ts) {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(ts);
  return m ? `${m[1]} ${m[2]} UTC` : ts;
}

/** A value as one line of JSON text, cut to `max` characters. */
export function jsonText(value, max = 400) {
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}… (${fmt(text.length)} characters)` : text;
}

/** Offers `data` as a download named `name`. */
export function download(name, data, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Wires a pager's two buttons: `turn(-1)` when `back` is clicked, `turn(1)` when `forward` is. */
export function pagerButtons(back, forward, turn) {
  back.addEventListener("click", () => turn(-1));
  forward.addEventListener("click", () => turn(1));
}

/** A task id or file name made safe as a file name. */
export const fileName = (text) => text.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120) || "state";

/** Lets the browser paint (e.g. a "working…" message) before a long synchronous step. */
export const paint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
