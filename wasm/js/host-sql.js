// A host's SQLite for the stores (asap-state's `SqlConnection`): a Cloudflare Durable Object's
// `ctx.storage` (`sql.exec(sql, ...bindings)` and `transactionSync(fn)`), or any object of
// that shape. The wasm side holds a number, not the object: the objects live here.

const hosts = new Map();
let next = 1;

/** Registers `storage` (checked for the two methods the stores use); returns its number. */
export function hostRegister(storage) {
  const sql = storage?.sql;
  if (typeof sql?.exec !== "function" || typeof storage.transactionSync !== "function") {
    throw new TypeError(
      "storage must be a Durable Object's ctx.storage (with sql.exec and transactionSync): " +
        "declare the class with new_sqlite_classes in its migration",
    );
  }
  const id = next++;
  hosts.set(id, storage);
  return id;
}

/** Forgets a registered storage. */
export function hostRelease(id) {
  hosts.delete(id);
}

function storageOf(id) {
  const storage = hosts.get(id);
  if (storage === undefined) throw new Error("this database was closed");
  return storage;
}

/** Runs one statement that returns no rows; the number of rows it wrote. */
export function hostExec(id, sql, params) {
  const cursor = storageOf(id).sql.exec(sql, ...params);
  for (const _ of cursor.raw());
  return cursor.rowsWritten;
}

// A query's rows cross to WebAssembly in a few calls, whatever their number (crossing once per
// value made a large read cost several times what the SQL did): `hostQuery` answers with the
// rows' shape (numbers), `hostQueryTextInto` writes every TEXT value of them, joined in order,
// as UTF-8 straight into WebAssembly memory, `hostQueryBlob` gives each BLOB. The shape: the
// number of BLOBs, the joined text's length in UTF-16 units, then per row its number of values
// and per value a kind and a number — NULL 0, a number (its value) 1, TEXT (its length in
// UTF-16 units) 2, a BLOB (its index) 3.
const NULL = 0;
const NUMBER = 1;
const TEXT = 2;
const BLOB = 3;
const utf8 = new TextEncoder();
let queryText = "";
let queryBlobs = [];

/** Runs one query; the shape of its rows (their text and BLOBs wait for the next calls). */
export function hostQuery(id, sql, params) {
  const cursor = storageOf(id).sql.exec(sql, ...params);
  const shape = [0, 0];
  let joined = "";
  const blobs = [];
  for (const row of cursor.raw()) {
    const n = row.length;
    shape.push(n);
    for (let i = 0; i < n; i++) {
      const v = row[i];
      if (typeof v === "string") {
        shape.push(TEXT, v.length);
        joined += v;
      } else if (typeof v === "number") {
        shape.push(NUMBER, v);
      } else if (v === null || v === undefined) {
        shape.push(NULL, 0);
      } else if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
        shape.push(BLOB, blobs.length);
        blobs.push(v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      } else {
        throw new TypeError(`a value of type ${typeof v} in a row of \`${sql}\``);
      }
    }
  }
  shape[0] = blobs.length;
  shape[1] = joined.length;
  queryText = joined;
  queryBlobs = blobs;
  return shape;
}

/** Writes the last query's joined TEXT values from UTF-16 unit `from` on into `buf` as UTF-8;
 * returns the bytes written (whole characters only). */
export function hostQueryTextInto(buf, from) {
  const rest = queryText.slice(from);
  const { read, written } = utf8.encodeInto(rest, buf);
  if (read === rest.length) queryText = "";
  return written;
}

/** The `i`th BLOB of the last query. */
export function hostQueryBlob(i) {
  const blob = queryBlobs[i];
  if (i === queryBlobs.length - 1) queryBlobs = [];
  return blob;
}

const ROLLBACK = Symbol("rollback");

/** Runs `body` (which returns whether it succeeded) in one transaction; false if rolled back. */
export function hostTransaction(id, body) {
  try {
    storageOf(id).transactionSync(() => {
      if (!body()) throw ROLLBACK;
    });
    return true;
  } catch (e) {
    if (e === ROLLBACK) return false;
    throw e;
  }
}
