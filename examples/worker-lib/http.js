// What the two Worker examples answer alike (examples/edge-worker/, examples/durable-objects/), so
// that a client cannot tell them apart: JSON responses and the reference's health document.
import { version as PACKAGE_VERSION } from "asap-state/package.json";

const ASAP_VERSION = "0.1";
const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

/** `value` as a JSON response that no cache keeps. */
export function json(value, status = 200, headers = {}) {
  return new Response(JSON.stringify(value), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/**
 * The reference's health document: the agent, the package's version, and the uptime since
 * `startedAt` (the isolate's first request: the Workers clock means nothing in the global scope).
 */
export function health(agentId, startedAt) {
  return json({
    status: "healthy",
    agent_id: agentId,
    version: PACKAGE_VERSION,
    asap_version: ASAP_VERSION,
    uptime_seconds: Math.round((Date.now() - startedAt) / 10) / 100,
    load: null,
  });
}
