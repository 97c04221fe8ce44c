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

/** Runs one statement; returns its rows as arrays of values, and the rows it wrote last. */
export function hostExec(id, sql, params) {
  const cursor = storageOf(id).sql.exec(sql, ...params);
  const rows = Array.from(cursor.raw());
  return [rows, cursor.rowsWritten];
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
