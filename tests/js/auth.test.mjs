// Who may touch which state (issue 14): both Worker examples in real workerd (Miniflare), with
// bearer JWTs verified by examples/worker-lib/auth.js. Every refusal is checked for its status, its
// WWW-Authenticate challenge and its JSON-RPC error — and then the stores are read back with an
// admin token to show that the refused request read and wrote nothing. Tenants are checked
// against each other (read, write, restore, listing, export), a JWKS key rotation is served by a
// local JWKS endpoint, and 1,000 valid requests of 10 tenants are interleaved with 1,000 forged
// ones.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, base64url } from "jose";
import { SqliteStateDb } from "asap-state";
import { AUTH_BINDINGS, ALL_SCOPES, asapSend, bearer, bundleExample, durableObjectsMiniflareOptions, edgeWorkerMiniflareOptions, token } from "./helpers.mjs";

const now = () => Math.floor(Date.now() / 1000);

let tmp;
const bundles = {};

before(() => {
  tmp = mkdtempSync(join(tmpdir(), "asap-state-auth-"));
  for (const name of ["edge-worker", "durable-objects"]) {
    const dir = join(tmp, name);
    bundles[name] = bundleExample(name, mkdtempSync(`${dir}-`));
  }
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A running example: `post`, `get`, `send` and what the tests read back with. */
async function startExample(name, bindings = AUTH_BINDINGS) {
  const dir = mkdtempSync(join(tmp, `${name}-state-`));
  const options = name === "edge-worker" ? edgeWorkerMiniflareOptions(bundles[name], dir, bindings) : durableObjectsMiniflareOptions(bundles[name], dir, bindings);
  const mf = new Miniflare(options);
  await mf.ready;
  const agent = bundles[name].config.vars.ASAP_AGENT_ID;
  const example = {
    name,
    mf,
    async post(body, headers) {
      const res = await mf.dispatchFetch("http://localhost/asap", { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, body: JSON.parse(text) };
    },
    get: (path, headers = {}) => mf.dispatchFetch(`http://localhost${path}`, { headers }),
    /** One `asap.send` of an ASAP envelope: the HTTP answer. */
    send: (headers, payload_type, payload) => example.post(JSON.stringify(asapSend(agent, payload_type, payload)), headers),
    save: (headers, task_id, data, expected_version) => example.send(headers, "state_save", { snapshot: { task_id, data }, ...(expected_version === undefined ? {} : { expected_version }) }),
    query: (headers, task_id, version) => example.send(headers, "state_query", version === undefined ? { task_id } : { task_id, version }),
    restore: (headers, task_id, snapshot_id) => example.send(headers, "state_restore", { task_id, snapshot_id }),
    /** Every tenant's state, read with an admin token: `{ tasks: { qualified id: versions }, events }`. */
    async everything() {
      const db = await example.exportDb("*");
      try {
        const tasks = Object.fromEntries(db.snapshots.listTasks().map((t) => [t.task_id, db.snapshots.listVersions(t.task_id)]));
        const events = JSON.parse(db.metering.export("json"));
        return { tasks, events };
      } finally {
        db.close();
      }
    },
    /** A tenant's export (`*`: every tenant's, task ids qualified; the DO example pages it) as an open database. */
    async exportDb(tenant) {
      const admin = await bearer("ops", ALL_SCOPES);
      const images = [];
      let after = "";
      for (;;) {
        const res = await example.get(`/state.db?tenant=${encodeURIComponent(tenant)}${name === "durable-objects" ? `&limit=100&after=${after}` : ""}`, admin);
        assert.equal(res.status, 200, await res.clone().text());
        images.push(new Uint8Array(await res.arrayBuffer()));
        const next = res.headers.get("x-asap-state-next");
        if (next === null) break;
        after = next;
      }
      const { mergeStateImages } = await import("asap-state");
      return SqliteStateDb.open({ bytes: images.length === 1 ? images[0] : mergeStateImages(images) });
    },
    dispose: () => mf.dispose(),
  };
  return example;
}

/** The payload of an answered request. */
function payloadOf(res) {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.error, undefined, res.text);
  return res.body.result.envelope.payload;
}

/** A 401 or 403 refusal of POST /asap: its challenge and JSON-RPC error, naming `reason`. */
function assertRefused(res, status, reason, secrets = []) {
  assert.equal(res.status, status, res.text);
  const error = status === 401 ? "invalid_token" : "insufficient_scope";
  assert.match(res.headers.get("www-authenticate"), new RegExp(`^Bearer realm="asap-state", error="${error}", error_description="[^"]+"`));
  assert.equal(res.body.jsonrpc, "2.0");
  assert.equal(res.body.result, undefined);
  assert.equal(res.body.error.code, status === 401 ? -32001 : -32003);
  assert.equal(res.body.error.data.error, error);
  assert.match(res.body.error.message, reason);
  for (const secret of [AUTH_BINDINGS.ASAP_AUTH_HS256_SECRET, ...secrets]) assert.ok(!res.text.includes(secret), "no key material in the answer");
}

/** A token signed as the examples' issuer would, with `claims` and `header` overriding the defaults. */
function signed(claims = {}, { secret = AUTH_BINDINGS.ASAP_AUTH_HS256_SECRET, header = {}, key } = {}) {
  const body = { sub: "tenant-a", scope: ALL_SCOPES, iss: AUTH_BINDINGS.ASAP_AUTH_ISSUER, aud: AUTH_BINDINGS.ASAP_AUTH_AUDIENCE, iat: now(), exp: now() + 600, ...claims };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return new SignJWT(body).setProtectedHeader({ alg: "HS256", typ: "JWT", ...header }).sign(key ?? new TextEncoder().encode(secret));
}

/** Header and payload re-encoded with `payload` changed, the original signature kept (a tampered token). */
function tampered(jwt, change) {
  const [h, p, sig] = jwt.split(".");
  const payload = { ...JSON.parse(new TextDecoder().decode(base64url.decode(p))), ...change };
  return `${h}.${base64url.encode(JSON.stringify(payload))}.${sig}`;
}

const auth = (jwt) => ({ authorization: `Bearer ${jwt}` });

/** Every way a token is refused with 401 (the attack, its headers, what the answer must say). */
async function invalidTokens() {
  const valid = await signed();
  return [
    ["no Authorization header", {}, /authorization required/],
    ["a Basic credential", { authorization: `Basic ${btoa("tenant-a:secret")}` }, /not a bearer token/],
    ["an empty bearer token", { authorization: "Bearer" }, /not a bearer token/],
    ["a token that is not a JWT", { authorization: "Bearer not-a-jwt" }, /malformed/],
    ["three parts of garbage", auth("a.b.c"), /malformed/],
    ["expired beyond the clock skew", auth(await signed({ exp: now() - 120 })), /has expired/],
    ["not valid yet (nbf beyond the skew)", auth(await signed({ nbf: now() + 120 })), /not valid yet/],
    ["issued in the future", auth(await signed({ iat: now() + 3600 })), /issued in the future|not valid yet/],
    ["without an expiry", auth(await signed({ exp: undefined })), /no expiry|exp/],
    ["signed with another secret", auth(await signed({}, { secret: "another-secret-of-32-bytes-or-more!!" })), /signature does not verify/],
    ["its payload changed after signing (sub)", auth(tampered(valid, { sub: "tenant-b" })), /signature does not verify/],
    ["its payload changed after signing (scope)", auth(tampered(await signed({ scope: SCOPE_READ_ONLY }), { scope: ALL_SCOPES })), /signature does not verify/],
    ["the wrong issuer", auth(await signed({ iss: "https://evil.test/" })), /issuer is not accepted/],
    ["the wrong audience", auth(await signed({ aud: "another-service" })), /audience is not this service/],
    ["alg: none", auth(new UnsecuredJWT({ sub: "tenant-a", scope: ALL_SCOPES, iss: AUTH_BINDINGS.ASAP_AUTH_ISSUER, aud: AUTH_BINDINGS.ASAP_AUTH_AUDIENCE, exp: now() + 600 }).encode()), /algorithm is not accepted|malformed/],
    ["HS512 instead of HS256", auth(await signed({}, { header: { alg: "HS512" } })), /algorithm is not accepted/],
    ["no tenant (sub) claim", auth(await signed({ sub: undefined })), /no sub claim/],
    ["an empty tenant", auth(await signed({ sub: "" })), /no sub claim/],
  ];
}
const SCOPE_READ_ONLY = "asap:read";

for (const name of ["edge-worker", "durable-objects"]) {
  describe(`${name}: refusals`, () => {
    let ex;
    before(async () => {
      ex = await startExample(name);
    });
    after(() => ex?.dispose());

    test("every invalid token: 401 invalid_token with the reason, on POST /asap and GET /state.db; nothing read or written", async () => {
      // A task of tenant-a that the refused requests aim at.
      const owner = await bearer("tenant-a");
      assert.equal(payloadOf(await ex.save(owner, "target", { secret: "tenant-a's" })).version, 1);
      const before = await ex.everything();
      for (const [attack, headers, reason] of await invalidTokens()) {
        for (const res of [await ex.save(headers, "target", { overwritten: attack }), await ex.query(headers, "target"), await ex.restore(headers, "target", "snap_x")]) {
          assertRefused(res, 401, reason);
          assert.equal(res.body.id, null, "the body of a refused request is not read");
          assert.ok(!res.text.includes("tenant-a's"), `${attack}: no state in the answer`);
        }
        const download = await ex.get("/state.db?tenant=*", headers);
        assert.equal(download.status, 401, attack);
        assert.match(download.headers.get("www-authenticate"), /error="invalid_token"/);
        assert.equal((await download.json()).code, "invalid_token");
        if (name === "durable-objects") {
          const tasks = await ex.get("/tasks", headers);
          assert.equal(tasks.status, 401, attack);
          await tasks.body?.cancel();
        }
      }
      // A token just expired but within the 30 s clock skew is still accepted.
      assert.equal(payloadOf(await ex.query(auth(await signed({ exp: now() - 10 })), "target")).snapshot.version, 1);
      const afterwards = await ex.everything();
      assert.deepEqual(afterwards.tasks, before.tasks, "nothing written");
      assert.equal(afterwards.events.length, before.events.length + 1, "no usage recorded for a refused request (the one event: the accepted query)");
    });

    test("insufficient scope: 403 insufficient_scope naming the scope; nothing read or written", async () => {
      const owner = await bearer("tenant-a");
      const saved = payloadOf(await ex.save(owner, "scoped", { n: 1 }));
      const before = await ex.everything();
      const readOnly = await bearer("tenant-a", "asap:read");
      const executeOnly = await bearer("tenant-a", "asap:execute");
      const none = await bearer("tenant-a", "");
      const other = await bearer("tenant-a", "profile email asap:reader");
      for (const headers of [readOnly, none, other]) {
        assertRefused(await ex.save(headers, "scoped", { n: 2 }), 403, /needs the scope asap:execute/);
        assertRefused(await ex.restore(headers, "scoped", saved.snapshot_id), 403, /needs the scope asap:execute/);
      }
      for (const headers of [executeOnly, none, other]) {
        const res = await ex.query(headers, "scoped");
        assertRefused(res, 403, /needs the scope asap:read/);
        assert.match(res.headers.get("www-authenticate"), /scope="asap:read"/);
        assert.equal(res.body.id.startsWith("rpc-"), true, "a 403 answers with the request's id");
      }
      for (const headers of [readOnly, executeOnly]) {
        const res = await ex.get("/state.db", headers);
        assert.equal(res.status, 403);
        assert.match(res.headers.get("www-authenticate"), /error="insufficient_scope".*scope="asap:admin"/);
        assert.deepEqual(await res.json(), { error: "this request needs the scope asap:admin", code: "insufficient_scope" });
      }
      // The scope claim may also be a list (`scp`), and each scope grants what it names.
      assert.equal(payloadOf(await ex.query(auth(await signed({ scope: undefined, scp: ["asap:read"] })), "scoped")).snapshot.version, 1);
      assert.equal(payloadOf(await ex.query(readOnly, "scoped")).found, true);
      const afterwards = await ex.everything();
      assert.deepEqual(afterwards.tasks, before.tasks, "nothing written");
      assert.equal(afterwards.events.length, before.events.length + 2, "only the two accepted queries were metered");
    });

    test("tenants: another tenant's task is invisible to read, write, restore, listing and export", async () => {
      const alice = await bearer("alice", "asap:read asap:execute");
      const bob = await bearer("bob", "asap:read asap:execute");
      const aliceAdmin = await bearer("alice", ALL_SCOPES);
      const a1 = payloadOf(await ex.save(alice, "shared-name", { owner: "alice", n: 1 }));
      payloadOf(await ex.save(alice, "shared-name", { owner: "alice", n: 2 }, 1));
      payloadOf(await ex.save(alice, "alice-only", { owner: "alice" }));
      // Bob sees none of it: the same task id is a different task.
      const bobQuery = payloadOf(await ex.query(bob, "shared-name"));
      assert.equal(bobQuery.found, false);
      assert.equal(payloadOf(await ex.query(bob, "alice-only")).found, false);
      // A save with expected_version 2 (alice's latest) is a conflict for bob: his task is empty.
      const conflict = payloadOf(await ex.save(bob, "shared-name", { owner: "bob" }, 2));
      assert.equal(conflict.ok, false);
      assert.equal(conflict.error, "VERSION_CONFLICT");
      const b1 = payloadOf(await ex.save(bob, "shared-name", { owner: "bob" }));
      assert.equal(b1.version, 1, "bob's own task starts at 1");
      // Restoring alice's snapshot id as bob answers exactly as an id that never existed.
      const stolen = payloadOf(await ex.restore(bob, "shared-name", a1.snapshot_id));
      const never = payloadOf(await ex.restore(bob, "shared-name", "snap_01JZZZZZZZZZZZZZZZZZZZZZZZ"));
      assert.equal(stolen.ok, false);
      assert.deepEqual({ ...stolen, snapshot_id: null }, { ...never, snapshot_id: null }, "no existence oracle");
      // Alice's data is untouched.
      const latest = payloadOf(await ex.query(alice, "shared-name")).snapshot;
      assert.deepEqual([latest.version, latest.data], [2, { owner: "alice", n: 2 }]);
      // A non-admin cannot name another tenant; an admin can, and sees only that tenant's state.
      if (name === "durable-objects") {
        const list = async (headers, q = "") => {
          const res = await ex.get(`/tasks${q}`, headers);
          return { status: res.status, body: await res.json() };
        };
        assert.deepEqual((await list(alice)).body.tasks.filter((t) => ["shared-name", "alice-only"].includes(t)), ["alice-only", "shared-name"]);
        assert.deepEqual((await list(bob)).body.tasks, ["shared-name"]);
        assert.equal((await list(bob, "?tenant=alice")).status, 403);
        assert.equal((await list(bob, "?tenant=*")).status, 403);
        assert.deepEqual((await list(aliceAdmin, "?tenant=bob")).body.tasks, ["shared-name"]);
        assert.ok((await list(aliceAdmin, "?tenant=*")).body.tasks.includes("bob/shared-name"));
      }
      const denied = await ex.get("/state.db?tenant=bob", await bearer("alice", "asap:read asap:execute"));
      assert.equal(denied.status, 403);
      await denied.body?.cancel();
      const bobsOwn = await ex.exportDb("bob");
      try {
        assert.deepEqual(bobsOwn.snapshots.listTasks().map((t) => t.task_id), ["shared-name"]);
        assert.deepEqual(bobsOwn.snapshots.get("shared-name").data, { owner: "bob" });
      } finally {
        bobsOwn.close();
      }
      // The export of every tenant qualifies each task id by its tenant: both "shared-name"s kept.
      const { tasks } = await ex.everything();
      assert.deepEqual(tasks["alice/shared-name"], [1, 2]);
      assert.deepEqual(tasks["bob/shared-name"], [1]);
      assert.deepEqual(tasks["alice/alice-only"], [1]);
    });
  });
}

describe("durable-objects: keys from a JWKS endpoint", () => {
  let server;
  let jwks = { keys: [] };
  let fetches = 0;
  let ex;
  const keys = {};

  before(async () => {
    for (const [kid, alg] of [["rsa-1", "RS256"], ["ec-1", "ES256"], ["rsa-2", "RS256"], ["rogue", "RS256"]]) {
      const pair = await generateKeyPair(alg, { extractable: true });
      keys[kid] = { ...pair, alg, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" } };
    }
    jwks = { keys: [keys["rsa-1"].jwk, keys["ec-1"].jwk] };
    server = createServer((req, res) => {
      fetches += 1;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(jwks));
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { ASAP_AUTH_HS256_SECRET, ...rest } = AUTH_BINDINGS; // eslint-disable-line no-unused-vars
    ex = await startExample("durable-objects", {
      ...rest,
      ASAP_AUTH_JWKS_URL: `http://127.0.0.1:${server.address().port}/.well-known/jwks.json`,
      // The JWKS is fetched again at once for an unknown key id (the default waits 30 s).
      ASAP_AUTH_JWKS_COOLDOWN_SECONDS: "0",
    });
  });
  after(async () => {
    await ex?.dispose();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  });

  const sign = (kid, claims = {}) => {
    const { privateKey, alg } = keys[kid];
    return new SignJWT({ sub: "tenant-k", scope: ALL_SCOPES, ...claims })
      .setProtectedHeader({ alg, kid, typ: "JWT" })
      .setIssuer(AUTH_BINDINGS.ASAP_AUTH_ISSUER)
      .setAudience(AUTH_BINDINGS.ASAP_AUTH_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(privateKey);
  };

  test("RS256 and ES256 tokens verify against the JWKS, which is fetched once and cached", async () => {
    assert.equal(payloadOf(await ex.save(auth(await sign("rsa-1")), "k-task", { n: 1 })).version, 1);
    assert.equal(payloadOf(await ex.save(auth(await sign("ec-1")), "k-task", { n: 2 })).version, 2);
    for (let i = 0; i < 5; i++) assert.equal(payloadOf(await ex.query(auth(await sign("rsa-1")), "k-task")).snapshot.version, 2);
    assert.equal(fetches, 1, "one fetch of the JWKS for seven requests");
  });

  test("attacks on an asymmetric configuration: HS256 (with the public key as the secret), an unknown key, alg none", async () => {
    const publicJwk = JSON.stringify(keys["rsa-1"].jwk);
    const attacks = [
      ["HS256 where RS256/ES256 keys are configured", await signed({ sub: "tenant-k" }, { header: { kid: "rsa-1" }, secret: publicJwk }), /algorithm is not accepted/],
      ["HS256 signed with the shared development secret", await signed({ sub: "tenant-k" }), /algorithm is not accepted/],
      ["a key this service never published", await sign("rogue"), /no signing key/],
      ["a published kid, signed by another key", tamperedKid(await sign("rogue"), "rsa-1"), /signature does not verify/],
      ["alg none", new UnsecuredJWT({ sub: "tenant-k", scope: ALL_SCOPES, iss: AUTH_BINDINGS.ASAP_AUTH_ISSUER, aud: AUTH_BINDINGS.ASAP_AUTH_AUDIENCE, exp: now() + 600 }).encode(), /algorithm is not accepted|malformed/],
    ];
    for (const [attack, jwt, reason] of attacks) {
      const res = await ex.save(auth(jwt), "k-task", { attack });
      assertRefused(res, 401, reason, [JSON.stringify(keys["rsa-1"].jwk.n)]);
    }
    assert.equal(payloadOf(await ex.query(auth(await sign("rsa-1")), "k-task")).snapshot.version, 2, "nothing written");
  });

  test("key rotation: a new kid is fetched when it first appears; the removed one is refused from then on", async () => {
    const before = fetches;
    jwks = { keys: [keys["rsa-2"].jwk] };
    // The cached set still holds rsa-1 until the set is fetched again: a new kid makes it so.
    assert.equal(payloadOf(await ex.save(auth(await sign("rsa-2")), "k-task", { n: 3 })).version, 3);
    assert.equal(fetches, before + 1, "the unknown kid made one fetch");
    assertRefused(await ex.query(auth(await sign("rsa-1")), "k-task"), 401, /no signing key/);
    assertRefused(await ex.query(auth(await sign("ec-1")), "k-task"), 401, /no signing key/);
    assert.equal(payloadOf(await ex.query(auth(await sign("rsa-2")), "k-task")).snapshot.version, 3);
  });

  test("the JWKS endpoint down: 503, not a refusal of the token, and nothing written", async () => {
    const url = `http://127.0.0.1:${server.address().port}/`;
    await new Promise((resolve) => server.close(resolve));
    server = undefined;
    // rsa-3 is unknown, so the worker must fetch the set again: the endpoint is gone.
    const pair = await generateKeyPair("RS256");
    const jwt = await new SignJWT({ sub: "tenant-k", scope: ALL_SCOPES }).setProtectedHeader({ alg: "RS256", kid: "rsa-3" }).setIssuer(AUTH_BINDINGS.ASAP_AUTH_ISSUER).setAudience(AUTH_BINDINGS.ASAP_AUTH_AUDIENCE).setExpirationTime("10m").sign(pair.privateKey);
    const res = await ex.save(auth(jwt), "k-task", { n: "lost" });
    assert.equal(res.status, 503, res.text);
    assert.match(res.body.error.message, /signing keys could not be fetched/);
    assert.ok(!res.text.includes(url));
    // Still cached: rsa-2 keeps working while the endpoint is down.
    assert.equal(payloadOf(await ex.query(auth(await sign("rsa-2")), "k-task")).snapshot.version, 3);
  });
});

/** The token's header with another kid, payload and signature kept. */
function tamperedKid(jwt, kid) {
  const [h, p, sig] = jwt.split(".");
  const header = { ...JSON.parse(new TextDecoder().decode(base64url.decode(h))), kid };
  return `${base64url.encode(JSON.stringify(header))}.${p}.${sig}`;
}

for (const name of ["durable-objects", "edge-worker"]) {
  test(`${name}: 1,000 valid requests of 10 tenants interleaved with 1,000 forged ones; each tenant then sees exactly its own tasks`, async () => {
    const ex = await startExample(name);
    try {
      const TENANTS = Array.from({ length: 10 }, (_, i) => `tenant-${i}`);
      const tokens = Object.fromEntries(await Promise.all(TENANTS.map(async (t) => [t, await token(t, "asap:read asap:execute")])));
      const forgers = [
        async (victim) => signed({ sub: victim }, { secret: "a-forger-guessing-the-secret-xxxxxxxx" }),
        // Another tenant's valid token, its sub changed to the victim's (the signature kept).
        async (victim) => tampered(tokens[victim === "tenant-0" ? "tenant-1" : "tenant-0"], { sub: victim }),
        async (victim) => new UnsecuredJWT({ sub: victim, scope: ALL_SCOPES, iss: AUTH_BINDINGS.ASAP_AUTH_ISSUER, aud: AUTH_BINDINGS.ASAP_AUTH_AUDIENCE, exp: now() + 600 }).encode(),
        async (victim) => signed({ sub: victim, exp: now() - 3600 }),
        async (victim) => signed({ sub: victim, aud: "elsewhere" }),
        async (victim) => signed({ sub: victim, iss: "https://evil.test/" }),
        async (victim) => tampered(await signed({ sub: victim, scope: "asap:read" }), { scope: ALL_SCOPES }),
        async (victim) => signed({ sub: victim }, { header: { alg: "HS384" } }),
      ];
      const expected = Object.fromEntries(TENANTS.map((t) => [t, new Set()]));
      let refused = 0;
      const requests = [];
      for (let i = 0; i < 1000; i++) {
        const tenant = TENANTS[i % 10];
        const task = `task-${i % 37}`;
        expected[tenant].add(task);
        requests.push(async () => {
          const res = await ex.save(auth(tokens[tenant]), task, { tenant, i });
          assert.equal(payloadOf(res).ok, true, res.text);
        });
        const victim = TENANTS[(i + 3) % 10];
        requests.push(async () => {
          const jwt = await forgers[i % forgers.length](victim);
          const res = await ex.save(auth(jwt), `forged-${i}`, { forgedBy: i });
          assert.equal(res.status, 401, res.text);
          refused += 1;
        });
      }
      // In waves of 50 concurrent requests, valid and forged interleaved.
      for (let k = 0; k < requests.length; k += 50) await Promise.all(requests.slice(k, k + 50).map((r) => r()));
      assert.equal(refused, 1000);
      for (const tenant of TENANTS) {
        const db = await ex.exportDb(tenant);
        try {
          const tasks = db.snapshots.listTasks().map((t) => t.task_id);
          assert.deepEqual(tasks.sort(), [...expected[tenant]].sort(), `${tenant} sees exactly its own tasks`);
          for (const t of tasks) for (const v of db.snapshots.listVersions(t)) assert.equal(db.snapshots.get(t, v).data.tenant, tenant);
        } finally {
          db.close();
        }
      }
      const { tasks } = await ex.everything();
      assert.ok(!Object.keys(tasks).some((t) => t.includes("forged-")), "no forged request wrote anything");
      assert.equal(Object.values(tasks).reduce((n, versions) => n + versions.length, 0), 1000);
      console.log(`# ${name}: 1000 valid saves of 10 tenants kept, 1000 forged refused (401), 0 crossed tenants`);
    } finally {
      await ex.dispose();
    }
  });
}
