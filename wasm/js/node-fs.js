// Node's synchronous file API for the SQLite backend's files (`SqliteStateDb.open({ path })`).
// Absent outside Node (browsers, workerd without nodejs_compat): `fsAvailable()` is then false.
const fs = globalThis.process?.getBuiltinModule?.("node:fs");
const path = globalThis.process?.getBuiltinModule?.("node:path");

export function fsAvailable() {
  return fs !== undefined && path !== undefined;
}

/** An absolute, normalised path, so two spellings of one file share one database. */
export function fsResolve(p) {
  const abs = path.resolve(p);
  try {
    return fs.realpathSync(abs);
  } catch {
    return abs;
  }
}

/** A file descriptor, or -1 when the file is missing and `create` is false. */
export function fsOpen(p, create) {
  try {
    return fs.openSync(p, "r+");
  } catch (e) {
    if (e.code === "ENOENT") return create ? fs.openSync(p, "w+") : -1;
    throw e;
  }
}

export function fsRead(fd, buf, pos) {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

export function fsWrite(fd, buf, pos) {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, pos + done);
}

export function fsSize(fd) {
  return fs.fstatSync(fd).size;
}

export function fsTruncate(fd, len) {
  fs.ftruncateSync(fd, len);
}

export function fsSync(fd) {
  fs.fdatasyncSync(fd);
}

export function fsClose(fd) {
  fs.closeSync(fd);
}

export function fsRemove(p) {
  try {
    fs.unlinkSync(p);
  } catch (e) {
    if (e.code !== "ENOENT") throw e;
  }
}

export function processEnv() {
  return globalThis.process?.env;
}

/**
 * Takes the cross-process lock of a database file: `<path>.lock`, created exclusively and
 * holding our pid. A lock left by a process that no longer exists is taken over. Returns the
 * lock file's descriptor, or -1 when another live process holds the database.
 */
export function fsLock(p) {
  const lockPath = `${p}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(lockPath, "wx");
      fs.writeSync(fd, String(process.pid));
      return fd;
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
    }
    let pid = NaN;
    try {
      pid = Number.parseInt(fs.readFileSync(lockPath, "utf8"), 10);
    } catch (e) {
      if (e.code === "ENOENT") continue; // released meanwhile: try again
      throw e;
    }
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        return -1; // alive (or not ours to signal): locked
      } catch (e) {
        if (e.code !== "ESRCH") return -1;
      }
    }
    // Stale (its process is gone) or unreadable: take it over.
    try {
      fs.unlinkSync(lockPath);
    } catch (e) {
      if (e.code !== "ENOENT") throw e;
    }
  }
  return -1;
}

/** Releases a lock taken by `fsLock`. */
export function fsUnlock(p, fd) {
  try {
    fs.closeSync(fd);
  } finally {
    fsRemove(`${p}.lock`);
  }
}
