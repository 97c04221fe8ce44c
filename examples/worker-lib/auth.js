// Who may touch which state: bearer JWTs, scopes and tenants for the asap-state Worker examples
// (examples/edge-worker/ and examples/durable-objects/ import this file; wrangler bundles it).
//
// Every state endpoint calls `authenticate(request, env)` before it reads a byte of state. Tokens
// are verified by `jose` (WebCrypto; runs in Workers) against either
//   - a JWKS URL (ASAP_AUTH_JWKS_URL): asymmetric keys (RS256 and ES256 by default), cached per
//     isolate and fetched again when a token names a key id the cache does not hold (rotation), or
//   - for local development only, a shared HMAC secret (ASAP_AUTH_HS256_SECRET): HS256 tokens.
// The issuer and audience are always checked; a small clock skew is allowed. With no
// configuration every state endpoint answers 503: nothing is ever open by default.
//
// Scopes, as in the Python reference (asap.auth): asap:read for state_query and the task listing,
// asap:execute for state_save and state_restore, asap:admin for GET /state.db (and, on the
// listing and the export, for choosing another tenant). asap:admin includes the other two.
//
// The tenant is one claim of the token (`sub` unless ASAP_AUTH_TENANT_CLAIM names another). Each
// example keeps a tenant's tasks where no other tenant's requests can reach: see their READMEs.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { json } from "./http.js";

export const SCOPE_READ = "asap:read";
export const SCOPE_EXECUTE = "asap:execute";
export const SCOPE_ADMIN = "asap:admin";

/** The scope each ASAP state message needs. */
export const SCOPE_OF_PAYLOAD = Object.freeze({
  state_query: SCOPE_READ,
  state_save: SCOPE_EXECUTE,
  state_restore: SCOPE_EXECUTE,
});

/** JSON-RPC error codes of a refused request (the reference's server uses the same pair). */
export const UNAUTHORIZED = -32001;
export const FORBIDDEN = -32003;
/** …and of a request that could not be checked (authentication not configured, keys unreachable). */
export const UNAVAILABLE = -32000;

const DEFAULT_SKEW_SECONDS = 30;
const DEFAULT_ALGORITHMS = ["RS256", "ES256"];
const ASYMMETRIC = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);
const MIN_SECRET_BYTES = 32;
const MAX_TENANT_BYTES = 256;
const REALM = "asap-state";

/** A request the endpoint refuses: its HTTP status, the OAuth error code and a description. */
export class Refusal {
  constructor(status, error, description, scope) {
    this.status = status;
    this.error = error;
    this.description = description;
    this.scope = scope;
  }

  /** The `WWW-Authenticate` header (RFC 6750) of a 401 or 403; none for a 503. */
  challenge() {
    if (this.status !== 401 && this.status !== 403) return undefined;
    const quoted = (s) => `"${s.replace(/["\\]/g, "")}"`;
    let value = `Bearer realm=${quoted(REALM)}, error=${quoted(this.error)}, error_description=${quoted(this.description)}`;
    if (this.scope) value += `, scope=${quoted(this.scope)}`;
    return value;
  }

  /** The refusal as a JSON-RPC 2.0 error response (for POST /asap). */
  rpcResponse(id = null) {
    const code = this.status === 403 ? FORBIDDEN : this.status === 401 ? UNAUTHORIZED : UNAVAILABLE;
    const message = this.status === 403 ? "forbidden" : this.status === 401 ? "unauthorized" : "unavailable";
    return this.#response({ jsonrpc: "2.0", id, error: { code, message: `${message}: ${this.description}`, data: { error: this.error, error_description: this.description } } });
  }

  /** The refusal as the JSON body the GET endpoints answer with. */
  jsonResponse() {
    return this.#response({ error: this.description, code: this.error });
  }

  #response(body) {
    const challenge = this.challenge();
    return json(body, this.status, challenge ? { "www-authenticate": challenge } : {});
  }
}

const invalid = (description) => new Refusal(401, "invalid_token", description);
const unavailable = (description) => new Refusal(503, "temporarily_unavailable", description);

/** The caller a verified token names: its tenant, its scopes and its claims. */
export class Caller {
  constructor(tenant, scopes, claims) {
    this.tenant = tenant;
    this.scopes = scopes;
    this.claims = claims;
  }

  /** Whether the token grants `scope` (asap:admin grants every scope). */
  has(scope) {
    return this.scopes.has(scope) || this.scopes.has(SCOPE_ADMIN);
  }

  /** `null` when the token grants `scope`, else the 403 to answer. */
  require(scope) {
    return this.has(scope) ? null : new Refusal(403, "insufficient_scope", `this request needs the scope ${scope}`, scope);
  }
}

/** The scopes of a token: `scope` (a space-separated string, RFC 8693) or `scp` (a list or string). */
function scopesOf(claims) {
  const out = new Set();
  for (const raw of [claims.scope, claims.scp]) {
    const list = typeof raw === "string" ? raw.split(" ") : Array.isArray(raw) ? raw : [];
    for (const s of list) if (typeof s === "string" && s.length > 0) out.add(s);
  }
  return out;
}

function words(env, name) {
  const raw = env[name];
  return typeof raw === "string" ? raw.trim() : "";
}

function seconds(env, name, fallback) {
  const raw = words(env, name);
  if (raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw unavailable(`${name} must be a number of seconds, got ${JSON.stringify(raw)}`);
  return n;
}

/** Whether a JWKS URL may be fetched: https, or http on this machine (local development, tests). */
function allowedJwksUrl(url) {
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

/** The verifier the configuration describes; a Refusal (503) naming what is missing or wrong. */
function buildVerifier(env) {
  const jwksUrl = words(env, "ASAP_AUTH_JWKS_URL");
  const secret = typeof env.ASAP_AUTH_HS256_SECRET === "string" ? env.ASAP_AUTH_HS256_SECRET : "";
  const issuer = words(env, "ASAP_AUTH_ISSUER");
  const audience = words(env, "ASAP_AUTH_AUDIENCE");
  if (!jwksUrl && !secret) {
    throw unavailable("authentication is not configured: set ASAP_AUTH_JWKS_URL (or, for local development, ASAP_AUTH_HS256_SECRET)");
  }
  if (jwksUrl && secret) throw unavailable("set one of ASAP_AUTH_JWKS_URL and ASAP_AUTH_HS256_SECRET, not both");
  if (!issuer || !audience) throw unavailable("authentication needs ASAP_AUTH_ISSUER and ASAP_AUTH_AUDIENCE");
  const options = {
    issuer,
    audience: audience.split(",").map((a) => a.trim()).filter(Boolean),
    clockTolerance: seconds(env, "ASAP_AUTH_CLOCK_SKEW_SECONDS", DEFAULT_SKEW_SECONDS),
    requiredClaims: ["exp"],
  };
  const tenantClaim = words(env, "ASAP_AUTH_TENANT_CLAIM") || "sub";
  let key;
  if (jwksUrl) {
    let url;
    try {
      url = new URL(jwksUrl);
    } catch {
      throw unavailable("ASAP_AUTH_JWKS_URL is not a URL");
    }
    if (!allowedJwksUrl(url)) throw unavailable("ASAP_AUTH_JWKS_URL must be an https URL");
    const algorithms = words(env, "ASAP_AUTH_ALGORITHMS") ? words(env, "ASAP_AUTH_ALGORITHMS").split(",").map((a) => a.trim()) : DEFAULT_ALGORITHMS;
    const symmetric = algorithms.filter((a) => !ASYMMETRIC.has(a));
    if (symmetric.length > 0) throw unavailable(`ASAP_AUTH_ALGORITHMS may name asymmetric algorithms only, not ${symmetric.join(", ")}`);
    options.algorithms = algorithms;
    const remote = createRemoteJWKSet(url, {
      cacheMaxAge: seconds(env, "ASAP_AUTH_JWKS_CACHE_SECONDS", 600) * 1000,
      cooldownDuration: seconds(env, "ASAP_AUTH_JWKS_COOLDOWN_SECONDS", 30) * 1000,
    });
    // A key the set does not hold is the token's fault; a set that cannot be fetched (network,
    // status, timeout, not a JWKS) is the service's, and must not be reported as a bad token.
    key = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        if (err?.code === "ERR_JWKS_NO_MATCHING_KEY" || err?.code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS") throw err;
        console.error("asap auth: the JWKS could not be fetched:", err?.code ?? err?.name, err?.message);
        throw new KeysUnavailable();
      }
    };
  } else {
    if (new TextEncoder().encode(secret).length < MIN_SECRET_BYTES) {
      throw unavailable(`ASAP_AUTH_HS256_SECRET must be at least ${MIN_SECRET_BYTES} bytes`);
    }
    options.algorithms = ["HS256"];
    key = new TextEncoder().encode(secret);
  }
  return { key, options, tenantClaim };
}

/** Thrown by the key lookup when the JWKS cannot be fetched. */
class KeysUnavailable extends Error {}

let cached;

/** One verifier per configuration and isolate: the JWKS cache lives as long as the isolate. */
function verifierFor(env) {
  const config = ["ASAP_AUTH_JWKS_URL", "ASAP_AUTH_HS256_SECRET", "ASAP_AUTH_ISSUER", "ASAP_AUTH_AUDIENCE", "ASAP_AUTH_CLOCK_SKEW_SECONDS", "ASAP_AUTH_TENANT_CLAIM", "ASAP_AUTH_ALGORITHMS", "ASAP_AUTH_JWKS_CACHE_SECONDS", "ASAP_AUTH_JWKS_COOLDOWN_SECONDS"].map((k) => env[k]);
  const fingerprint = JSON.stringify(config);
  if (cached?.fingerprint !== fingerprint) cached = { fingerprint, verifier: buildVerifier(env) };
  return cached.verifier;
}

/** What a failed verification says, in words that name the reason and no key material. */
function reasonOf(err) {
  if (err instanceof KeysUnavailable) return unavailable("the signing keys could not be fetched");
  switch (err?.code) {
    case "ERR_JWT_EXPIRED":
      return invalid("the token has expired");
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (err.claim === "nbf") return invalid("the token is not valid yet");
      if (err.claim === "iat") return invalid("the token was issued in the future");
      if (err.claim === "iss") return invalid("the token's issuer is not accepted");
      if (err.claim === "aud") return invalid("the token's audience is not this service");
      if (err.claim === "exp") return invalid("the token has no expiry (exp)");
      return invalid(`the token's ${String(err.claim).replace(/[^\w-]/g, "")} claim is not accepted`);
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return invalid("the token's signing algorithm is not accepted");
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return invalid("the token's signature does not verify");
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return invalid("no signing key of this service matches the token");
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
    case "ERR_JOSE_NOT_SUPPORTED":
      return invalid("the token is malformed");
    default:
      console.error("asap auth: token not verified:", err?.code ?? err?.name, err?.message);
      return invalid("the token could not be verified");
  }
}

/**
 * The caller of `request` (a `Caller`), or the `Refusal` to answer. Reads nothing but the
 * `Authorization` header; never touches state.
 */
export async function authenticate(request, env) {
  let verifier;
  try {
    verifier = verifierFor(env);
  } catch (err) {
    if (err instanceof Refusal) return err;
    throw err;
  }
  const header = request.headers.get("authorization");
  if (header === null) return invalid("authorization required: send Authorization: Bearer <token>");
  const match = /^Bearer[ \t]+([A-Za-z0-9_\-.~+/]+=*)[ \t]*$/i.exec(header);
  if (!match) return invalid("the Authorization header is not a bearer token");
  let payload;
  try {
    ({ payload } = await jwtVerify(match[1], verifier.key, verifier.options));
  } catch (err) {
    return reasonOf(err);
  }
  // jose checks `iat` only against a maximum age; a token issued in the future is refused here.
  if (typeof payload.iat === "number" && payload.iat > Date.now() / 1000 + verifier.options.clockTolerance) {
    return invalid("the token was issued in the future");
  }
  const tenant = payload[verifier.tenantClaim];
  if (typeof tenant !== "string" || tenant.length === 0) {
    return invalid(`the token has no ${verifier.tenantClaim} claim naming its tenant`);
  }
  if (new TextEncoder().encode(tenant).length > MAX_TENANT_BYTES) {
    return invalid(`the token's ${verifier.tenantClaim} claim is longer than ${MAX_TENANT_BYTES} bytes`);
  }
  return new Caller(tenant, scopesOf(payload), payload);
}

/** A JSON-RPC request's id, when it has a usable one (for the id of a refusal). */
function requestId(parsed) {
  const id = parsed?.id;
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null;
}

/**
 * The JSON-RPC request in `body` (`parsed`: `undefined` when it is not JSON) and, when the
 * caller lacks the scope its ASAP message needs, the 403 to answer (`refused`, else `null`).
 * A request that names no state message needs no scope: the package answers it with an error.
 */
export function checkRequest(caller, body) {
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const scope = SCOPE_OF_PAYLOAD[parsed?.params?.envelope?.payload_type];
  const refusal = scope ? caller.require(scope) : null;
  return { parsed, refused: refusal ? refusal.rpcResponse(requestId(parsed)) : null };
}

/**
 * The tenant a request acts for: the caller's own, or (asap:admin only) the one named by the
 * `tenant` query parameter. `{ tenant }` or `{ refusal }`; `tenant` is `null` when an admin
 * asked for every tenant (`?tenant=*`).
 */
export function tenantOf(caller, url) {
  const asked = url.searchParams.get("tenant");
  if (asked === null || asked === caller.tenant) return { tenant: caller.tenant };
  if (!caller.scopes.has(SCOPE_ADMIN)) {
    return { refusal: new Refusal(403, "insufficient_scope", `another tenant's state needs the scope ${SCOPE_ADMIN}`, SCOPE_ADMIN) };
  }
  return { tenant: asked === "*" ? null : asked };
}

/**
 * The task id under which a tenant's task appears in an export of every tenant: the tenant,
 * percent-encoded (so it holds no "/"), a "/", then the task id. Two tenants never collide.
 */
export function qualifiedTaskId(tenant, taskId) {
  return `${encodeURIComponent(tenant)}/${taskId}`;
}
