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
 * How a lock file names its owner: "<pid> <start>", the start time (clock ticks since boot) from
 * /proc/<pid>/stat where it exists, so a pid reused by another process is not taken for the owner.
 */
function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name "(…)": state is field 3, starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0], start: fields[19] ?? "" };
  } catch {
    return null; // no /proc (macOS, Windows), or the process is gone
  }
}

const owner = () => `${process.pid} ${procState(process.pid)?.start ?? ""}`.trim();

/** Whether the process a lock file names still runs (an exited, unreaped zombie does not). */
function holderAlive(text) {
  const [pidText, start] = text.trim().split(" ");
  const pid = Number.parseInt(pidText, 10);
  if (!Number.isInteger(pid) || pid <= 0 || String(pid) !== pidText) return false; // not a lock we wrote
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code === "ESRCH") return false;
    return true; // EPERM: alive, not ours to signal
  }
  const proc = procState(pid);
  if (proc === null) return true; // no /proc: kill(pid, 0) is all we know
  if (proc.state === "Z" || proc.state === "X") return false; // killed, not yet reaped by its parent
  return !start || proc.start === start; // another process now has this pid
}

const unique = () => `${process.pid}.${Math.random().toString(36).slice(2)}`;

/**
 * Takes the cross-process lock of a database file: `<path>.lock`, naming its owner. It is created
 * atomically with its content (written aside, then hard-linked into place), so no opener ever
 * reads a half-written lock. A lock whose owner is gone (exited, killed, a zombie, or a reused
 * pid) is taken over by moving it aside with one rename, which only one opener can win. Returns a
 * descriptor of the lock file, or -1 when another live process holds the database.
 */
export function fsLock(p) {
  const lockPath = `${p}.lock`;
  const me = owner();
  const mine = `${lockPath}.${unique()}.tmp`;
  fs.writeFileSync(mine, me, { flag: "wx" });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(mine, lockPath);
        return fs.openSync(lockPath, "r");
      } catch (e) {
        if (e.code !== "EEXIST") throw e;
      }
      let held;
      try {
        held = fs.readFileSync(lockPath, "utf8");
      } catch (e) {
        if (e.code === "ENOENT") continue; // released meanwhile: try again
        throw e;
      }
      if (holderAlive(held)) return -1;
      // Stale: move exactly this file aside. If another opener replaced it between our read and
      // our rename, we moved a live lock: put it back and report the database as locked.
      const aside = `${lockPath}.${unique()}.stale`;
      try {
        fs.renameSync(lockPath, aside);
      } catch (e) {
        if (e.code === "ENOENT") continue;
        throw e;
      }
      let moved = null;
      try {
        moved = fs.readFileSync(aside, "utf8");
      } catch {
        moved = null;
      }
      if (moved !== held) {
        try {
          fs.linkSync(aside, lockPath);
        } catch (e) {
          if (e.code !== "EEXIST") throw e;
        }
        fsRemove(aside);
        return -1;
      }
      fsRemove(aside);
    }
    return -1;
  } finally {
    fsRemove(mine);
  }
}

/** Releases a lock taken by `fsLock` (the lock file is removed only while it still names us). */
export function fsUnlock(p, fd) {
  try {
    fs.closeSync(fd);
  } finally {
    const lockPath = `${p}.lock`;
    let held = null;
    try {
      held = fs.readFileSync(lockPath, "utf8");
    } catch {
      held = null;
    }
    if (held === owner()) fsRemove(lockPath);
  }
}
