//! The contract suite (`tests/contract/mod.rs`), unchanged, on the SQLite backend: a database
//! image in memory, a real file, and an image behind `Guarded` (what the bindings hand out: the
//! closed check must pass every call, fast paths included, through unchanged).

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod contract;

use asap_state::{Guarded, OpenFlag, Runtime, SqliteStateDb};

contract::contract_suite!(sqlite_image, |rt: Runtime| {
    let db = SqliteStateDb::open_in_memory(rt).unwrap();
    (db.snapshots(), db.metering())
});

contract::contract_suite!(sqlite_file, |rt: Runtime| {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("asap-state-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.db", N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let db = SqliteStateDb::open_path(&path, rt).unwrap();
    (db.snapshots(), db.metering())
});

contract::contract_suite!(sqlite_guarded, |rt: Runtime| {
    let db = SqliteStateDb::open_in_memory(rt).unwrap();
    let open = OpenFlag::new();
    (
        Guarded::new(db.snapshots(), open.clone()),
        Guarded::new(db.metering(), open),
    )
});

// The host-connection path (`SqliteStateDb::open_connection`), over a real SQLite standing in
// for a Durable Object's storage: as it is, and with a value limit of 16 bytes, so nearly
// every snapshot's data is stored in chunks and reassembled.
mod host_support;

contract::contract_suite!(host_sqlite, |rt: Runtime| {
    let db =
        SqliteStateDb::open_connection(Box::new(host_support::HostSqlite::in_memory(None)), rt)
            .unwrap();
    (db.snapshots(), db.metering())
});

contract::contract_suite!(host_sqlite_chunked, |rt: Runtime| {
    let db =
        SqliteStateDb::open_connection(Box::new(host_support::HostSqlite::in_memory(Some(16))), rt)
            .unwrap();
    (db.snapshots(), db.metering())
});
