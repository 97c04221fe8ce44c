// Deterministic agent-state payloads of a given JSON size: a conversation, tool results and a
// scratchpad, as an agent's task state looks, from a seeded generator (same data every run).

const WORDS = (
  "agent task tool call result plan step observation retry answer context memory token " +
  "search fetch parse summary draft review status pending done error cache model prompt"
).split(" ");

/** mulberry32: a small seeded PRNG. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sentence(rand, words) {
  const out = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)]);
  return out.join(" ");
}

/** A state object whose JSON text is about `bytes` long. */
export function payload(bytes, seed = 1) {
  const rand = rng(seed);
  const state = {
    step: 0,
    status: "running",
    plan: ["search", "fetch", "summarise", "answer"],
    messages: [],
    tools: {},
    scores: [],
  };
  let i = 0;
  while (JSON.stringify(state).length < bytes) {
    if (i % 3 === 2) {
      state.tools[`call_${i}`] = { name: WORDS[i % WORDS.length], ok: rand() > 0.1, ms: Math.floor(rand() * 900), out: sentence(rand, 6) };
    } else {
      state.messages.push({ role: i % 2 ? "assistant" : "user", content: sentence(rand, 12), tokens: Math.floor(rand() * 400) });
    }
    state.scores.push(Math.round(rand() * 1000) / 1000);
    i++;
  }
  return state;
}

/** `count` distinct payloads of about `bytes` each (saves cycle through them). */
export function payloads(bytes, count = 8) {
  return Array.from({ length: count }, (_, k) => payload(bytes, k + 1));
}

/** Task ids for `n` stored snapshots at `perTask` versions each. */
export function taskIds(n, perTask) {
  return Array.from({ length: Math.max(1, Math.ceil(n / perTask)) }, (_, k) => `task-${String(k).padStart(6, "0")}`);
}
