//! `DurableObjectStateDb` for JavaScript: both stores on a Cloudflare Durable Object's own
//! SQLite storage (`ctx.storage`), through the core's SQL stores over a host connection.

use asap_state::{Guarded, OpenFlag};
use wasm_bindgen::prelude::*;

use crate::error::{alive, js, JsResult};
use crate::host_sql::HostConnection;
use crate::runtime;
use crate::sqlite_metering_store::SqliteMeteringStore;
use crate::sqlite_snapshot_store::SqliteSnapshotStore;

/// The stores of one Durable Object, in the Python reference's tables of its SQLite storage.
#[wasm_bindgen(js_name = DurableObjectStateDb, skip_typescript)]
pub struct DurableObjectStateDb {
    db: asap_state::SqliteStateDb,
    open: OpenFlag,
    snapshots: JsValue,
    metering: JsValue,
}

#[wasm_bindgen(js_class = DurableObjectStateDb)]
impl DurableObjectStateDb {
    /// Opens the stores on `storage` (a Durable Object's `ctx.storage`), synchronously: the
    /// reference's tables are created where missing, in one transaction.
    pub fn open(storage: JsValue) -> JsResult<DurableObjectStateDb> {
        alive()?;
        let conn = js(HostConnection::new(&storage))?;
        let db = js(asap_state::SqliteStateDb::open_connection(
            Box::new(conn),
            runtime::host(),
        ))?;
        let open = OpenFlag::new();
        let snapshots = SqliteSnapshotStore {
            inner: Guarded::new(db.snapshots(), open.clone()),
        };
        let metering = SqliteMeteringStore {
            inner: Guarded::new(db.metering(), open.clone()),
        };
        Ok(DurableObjectStateDb {
            db,
            open,
            snapshots: snapshots.into(),
            metering: metering.into(),
        })
    }

    /// The snapshot store (table `snapshots`).
    #[wasm_bindgen(getter)]
    pub fn snapshots(&self) -> JsValue {
        self.snapshots.clone()
    }

    /// The metering store (table `usage_events`).
    #[wasm_bindgen(getter)]
    pub fn metering(&self) -> JsValue {
        self.metering.clone()
    }

    /// One self-contained SQLite file of the object's state: the reference's two tables, with
    /// every snapshot's data whole (chunks reassembled), which `sqlite3`, the Python reference and
    /// `SqliteStateDb.open({ bytes })` open as-is. Read in one transaction.
    #[wasm_bindgen(js_name = exportBytes)]
    pub fn export_bytes(&self) -> JsResult<Vec<u8>> {
        alive()?;
        js(self.open.check())?;
        js(self.db.export_bytes())
    }

    /// Lets go of the storage; later calls on this handle and its stores throw `CLOSED`. The
    /// data stays in the object (the storage is the object's, not this handle's).
    pub fn close(&self) -> JsResult<()> {
        alive()?;
        if self.open.close() {
            js(self.db.close())?;
        }
        Ok(())
    }
}
