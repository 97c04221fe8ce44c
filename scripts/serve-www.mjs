// A static file server for the inspector (www/) on 127.0.0.1: `node scripts/serve-www.mjs [root]`
// prints the URL (PORT=8080 by default; the next free port if that one is taken). Imported by the
// end-to-end tests, which start it on an ephemeral port.
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".db": "application/vnd.sqlite3",
};

/** A server for the files under `root` (GET and HEAD only, nothing outside `root`). */
export function createStaticServer(root) {
  const base = resolve(root);
  return createServer(async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let path;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      res.writeHead(400).end("bad path");
      return;
    }
    let file = resolve(base, "." + (path.endsWith("/") ? path + "index.html" : path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end("forbidden");
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": MIME[extname(file)] ?? "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-store",
        // The inspector loads nothing from elsewhere and runs no inline script.
        "content-security-policy":
          // connect-src: a live deployment (any https address, or wrangler dev / Miniflare locally).
          "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self' https: http://127.0.0.1:* http://localhost:*; object-src 'none'; base-uri 'none'",
        "x-content-type-options": "nosniff",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
}

/** Listens on 127.0.0.1:`port` (0: any free port; a taken port: the next ones); resolves the URL. */
export function listen(server, port = 0, tries = 20) {
  return new Promise((resolveUrl, reject) => {
    const attempt = (p, left) => {
      server.once("error", (err) => {
        if (err.code === "EADDRINUSE" && left > 0 && p !== 0) attempt(p + 1, left - 1);
        else reject(err);
      });
      server.listen(p, "127.0.0.1", () => {
        server.removeAllListeners("error");
        resolveUrl(`http://127.0.0.1:${server.address().port}/`);
      });
    };
    attempt(port, tries);
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? join(fileURLToPath(new URL("..", import.meta.url)), "www");
  const port = Number.parseInt(process.env.PORT ?? "8080", 10);
  const server = createStaticServer(root);
  const url = await listen(server, Number.isFinite(port) ? port : 8080);
  const demo = existsSync(join(root, "dist", "demo.db")) ? "?demo" : "";
  console.log(`==> the asap-state inspector: ${url}${demo}  (serving ${root}; Ctrl-C stops)`);
}
