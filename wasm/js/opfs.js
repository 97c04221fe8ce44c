// The browser's Origin Private File System for the SQLite backend's files, through
// FileSystemSyncAccessHandle: synchronous reads and writes, available in dedicated workers.
// A sync access handle is exclusive, so a second tab or worker opening the same database is
// refused (DATABASE_LOCKED) instead of writing the same file.
const handles = new Map();
let nextId = 1;

export function opfsAvailable() {
  return (
    typeof navigator !== "undefined" &&
    typeof navigator.storage?.getDirectory === "function" &&
    typeof FileSystemFileHandle !== "undefined" &&
    "createSyncAccessHandle" in FileSystemFileHandle.prototype
  );
}

/**
 * Opens `<path>` and `<path>-wal` (creating them and any directories). Resolves to
 * `[mainId, walId]`, or to `null` when another tab or worker holds them.
 */
export async function opfsOpen(path) {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  const name = parts.pop();
  if (name === undefined || parts.includes("..")) throw new TypeError(`invalid OPFS path ${JSON.stringify(path)}`);
  let dir = await navigator.storage.getDirectory();
  for (const part of parts) dir = await dir.getDirectoryHandle(part, { create: true });
  const opened = [];
  try {
    for (const file of [name, `${name}-wal`]) {
      const fileHandle = await dir.getFileHandle(file, { create: true });
      opened.push(await fileHandle.createSyncAccessHandle());
    }
  } catch (e) {
    for (const h of opened) h.close();
    if (e?.name === "NoModificationAllowedError" || e?.name === "InvalidStateError") return null;
    throw e;
  }
  return opened.map((h) => {
    const id = nextId++;
    handles.set(id, h);
    return id;
  });
}

function handle(id) {
  const h = handles.get(id);
  if (h === undefined) throw new Error(`OPFS file ${id} is closed`);
  return h;
}

export function opfsRead(id, buf, pos) {
  const h = handle(id);
  let done = 0;
  while (done < buf.length) {
    const n = h.read(buf.subarray(done), { at: pos + done });
    if (n === 0) break;
    done += n;
  }
  return done;
}

export function opfsWrite(id, buf, pos) {
  const h = handle(id);
  let done = 0;
  while (done < buf.length) done += h.write(buf.subarray(done), { at: pos + done });
}

export function opfsSize(id) {
  return handle(id).getSize();
}

export function opfsTruncate(id, len) {
  handle(id).truncate(len);
}

export function opfsFlush(id) {
  handle(id).flush();
}

export function opfsClose(id) {
  const h = handles.get(id);
  handles.delete(id);
  h?.close();
}
