#!/usr/bin/env node
// Mints a development token for a Worker example running under `wrangler dev` with a shared
// HS256 secret (never in production: there, tokens come from your identity provider's JWKS).
//
//   node examples/worker-lib/dev-token.mjs --config examples/durable-objects/wrangler.jsonc \
//     --sub alice --scope "asap:read asap:execute" [--ttl 3600]
//
// Reads ASAP_AUTH_ISSUER and ASAP_AUTH_AUDIENCE from the config's "vars" and ASAP_AUTH_HS256_SECRET
// (and any override of the other two) from the `.dev.vars` file beside it, as `wrangler dev` does.
// Prints the token; send it as `Authorization: Bearer <token>`.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";

/** The `KEY=VALUE` lines of a .dev.vars file (quotes around a value removed). */
export function parseDevVars(text) {
  const out = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith("#")) continue;
    out[m[1]] = m[2].replace(/^(["'])(.*)\1$/, "$2");
  }
  return out;
}

/** A wrangler.jsonc's JSON (comments and trailing commas removed, strings left alone). */
export function parseJsonc(text) {
  const noComments = text.replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (m, str) => str ?? "");
  return JSON.parse(noComments.replace(/("(?:[^"\\]|\\.)*")|,(\s*[}\]])/g, (m, str, close) => str ?? close));
}

/** A signed HS256 token for `sub` with `scope`, valid for `ttl` seconds, for `env`'s issuer and audience. */
export async function mintDevToken(env, { sub, scope, ttl = 3600, claims = {} }) {
  const secret = env.ASAP_AUTH_HS256_SECRET;
  if (typeof secret !== "string" || secret.length === 0) throw new Error("ASAP_AUTH_HS256_SECRET is not set (put it in .dev.vars)");
  if (!env.ASAP_AUTH_ISSUER || !env.ASAP_AUTH_AUDIENCE) throw new Error("ASAP_AUTH_ISSUER and ASAP_AUTH_AUDIENCE must be set");
  return new SignJWT({ scope, ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuer(env.ASAP_AUTH_ISSUER)
    .setAudience(env.ASAP_AUTH_AUDIENCE.split(",")[0].trim())
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
    .sign(new TextEncoder().encode(secret));
}

async function main() {
  const { values } = parseArgs({
    options: {
      config: { type: "string" },
      sub: { type: "string" },
      scope: { type: "string", default: "asap:read asap:execute" },
      ttl: { type: "string", default: "3600" },
    },
  });
  if (!values.config || !values.sub) {
    console.error('usage: node examples/worker-lib/dev-token.mjs --config <wrangler.jsonc> --sub <tenant> [--scope "asap:read asap:execute"] [--ttl 3600]');
    process.exit(2);
  }
  const config = parseJsonc(readFileSync(values.config, "utf8"));
  const devVars = join(dirname(values.config), ".dev.vars");
  const env = { ...config.vars, ...(existsSync(devVars) ? parseDevVars(readFileSync(devVars, "utf8")) : {}) };
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error("--ttl must be a positive number of seconds");
  console.log(await mintDevToken(env, { sub: values.sub, scope: values.scope, ttl }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(`dev-token: ${err.message}`);
    process.exit(1);
  });
}
