//! Native files: sharing one database per path in a process, the lock against other processes,
//! and persistence across close and reopen.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

use asap_state::{
    ManualClock, MeteringStore, QueryOptions, Runtime, SaveOptions, SequentialIds, SnapshotStore,
    SqliteStateDb, StateSnapshot, StateSnapshotInput, TaskSummary, Timestamp, UsageEvent,
    UsageEventInput, UsageMetrics,
};
use serde_json::json;

fn runtime() -> Runtime {
    Runtime::new(
        ManualClock::new(Timestamp::parse("2025-02-08T12:00:00Z", "t").unwrap()),
        SequentialIds::new(),
    )
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("asap-state-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(dir.join(format!("{name}-wal")));
    path
}

fn data(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap()
}

/// Saves `{"n": 1}` as the first version of task `t`.
fn save_t1(store: &dyn SnapshotStore) {
    let input = StateSnapshotInput::new("t", data(json!({"n": 1})));
    store.save(input, SaveOptions::default()).unwrap();
}

/// What the persistence test compares before close and after reopen: the tasks, version 3 of
/// `task`, and every event of `agent`.
fn observed(db: &SqliteStateDb) -> (Vec<TaskSummary>, Option<StateSnapshot>, Vec<UsageEvent>) {
    let all = QueryOptions::default();
    (
        db.snapshots().list_tasks().unwrap(),
        db.snapshots().get("task", Some(3)).unwrap(),
        db.metering()
            .query("agent", Timestamp::MIN, Timestamp::MAX, all)
            .unwrap(),
    )
}

#[test]
fn two_opens_of_one_path_share_one_database() {
    let path = temp("shared.db");
    let a = SqliteStateDb::open_path(&path, runtime()).unwrap();
    // Another spelling of the same file.
    let other = path.parent().unwrap().join(".").join("shared.db");
    let b = SqliteStateDb::open_path(&other, runtime()).unwrap();
    save_t1(&a.snapshots());
    assert_eq!(b.snapshots().list_versions("t").unwrap(), vec![1]);
    b.close().unwrap();
    assert_eq!(a.snapshots().get("t", None).unwrap_err().code(), "CLOSED");
}

#[test]
fn a_file_locked_elsewhere_is_database_locked_and_untouched() {
    let path = temp("locked.db");
    {
        let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
        save_t1(&db.snapshots());
        db.close().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    // Another process holding the file: an exclusive lock on another open file description.
    let holder = std::fs::File::open(&path).unwrap();
    holder.lock().unwrap();
    let err = SqliteStateDb::open_path(&path, runtime()).unwrap_err();
    assert_eq!(err.code(), "DATABASE_LOCKED", "{err}");
    assert!(err.message().contains("another process"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was not touched"
    );
    holder.unlock().unwrap();
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    assert_eq!(db.snapshots().list_versions("t").unwrap(), vec![1]);
    // While we hold it, another opener is refused too.
    let outsider = std::fs::File::open(&path).unwrap();
    assert!(outsider.try_lock().is_err());
    db.close().unwrap();
    assert!(outsider.try_lock().is_ok(), "close releases the lock");
}

#[test]
fn everything_survives_close_and_reopen() {
    let path = temp("persist.db");
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    for step in 1..=5u64 {
        db.snapshots()
            .save(
                StateSnapshotInput::new("task", data(json!({"step": step, "ü": [step]})))
                    .checkpoint(step % 2 == 1),
                SaveOptions::default(),
            )
            .unwrap();
        db.metering()
            .record(
                UsageEventInput::new("task", "agent", "c")
                    .id(format!("e{step}"))
                    .metrics(UsageMetrics {
                        tokens_in: step,
                        ..Default::default()
                    }),
            )
            .unwrap();
    }
    let before = observed(&db);
    db.close().unwrap();
    assert!(db.is_closed());
    let wal = path.with_file_name("persist.db-wal");
    assert!(
        std::fs::metadata(&wal)
            .map(|m| m.len() == 0)
            .unwrap_or(true),
        "close checkpoints the WAL into the main file"
    );
    let again = SqliteStateDb::open_path(&path, runtime()).unwrap();
    let after = observed(&again);
    assert_eq!(before, after);
    assert_eq!(after.0[0].versions, 5);
    assert_eq!(after.0[0].checkpoints, 3);
    again.close().unwrap();
}

#[test]
fn closed_database_refuses_every_call() {
    let db = SqliteStateDb::open_in_memory(runtime()).unwrap();
    let (s, m) = (db.snapshots(), db.metering());
    db.close().unwrap();
    db.close().unwrap();
    let input = StateSnapshotInput::new("t", data(json!({})));
    assert_eq!(
        s.save(input, SaveOptions::default()).unwrap_err().code(),
        "CLOSED"
    );
    assert_eq!(s.list_tasks().unwrap_err().code(), "CLOSED");
    assert_eq!(m.agents().unwrap_err().code(), "CLOSED");
    assert_eq!(db.export_bytes().unwrap_err().code(), "CLOSED");
    assert!(db.is_image());
}

#[test]
fn factories_select_the_backend_from_the_environment() {
    use asap_state::{create_metering_store, create_snapshot_store};
    let path = temp("factory.db");
    // The only test of this binary touching these variables.
    std::env::set_var("ASAP_STORAGE_BACKEND", "  SQLite ");
    std::env::set_var("ASAP_STORAGE_PATH", &path);
    let snapshots = create_snapshot_store().unwrap();
    let metering = create_metering_store().unwrap();
    save_t1(&*snapshots);
    metering
        .record(UsageEventInput::new("t", "a", "c"))
        .unwrap();
    // Both stores are one database: a third open of the path sees both tables' rows.
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    assert_eq!(db.snapshots().list_versions("t").unwrap(), vec![1]);
    assert_eq!(db.metering().agents().unwrap(), vec!["a".to_owned()]);
    db.close().unwrap();

    std::env::set_var("ASAP_STORAGE_BACKEND", "redis");
    let err = create_snapshot_store().err().unwrap();
    assert_eq!(err.code(), "UNKNOWN_BACKEND");
    assert_eq!(
        err.message(),
        "Unknown ASAP_STORAGE_BACKEND='redis'. Use 'memory' or 'sqlite'."
    );
    assert_eq!(
        create_metering_store().err().unwrap().code(),
        "UNKNOWN_BACKEND"
    );

    std::env::remove_var("ASAP_STORAGE_BACKEND");
    std::env::remove_var("ASAP_STORAGE_PATH");
    let memory = create_snapshot_store().unwrap();
    assert!(memory.list_tasks().unwrap().is_empty());
    assert!(create_metering_store()
        .unwrap()
        .agents()
        .unwrap()
        .is_empty());
}

/// After a checkpoint the engine cuts the log back, and the next frames overwrite the old ones
/// in place (an append would make every commit's `fdatasync` write the file's size too): the
/// log file never shrinks while the database is open. What a crash leaves at that moment — new
/// frames, then old frames of the previous checkpoint's log past them — opens with exactly the
/// committed saves, as it must for SQLite too (the old frames carry the old salts).
#[test]
fn the_log_reuses_its_blocks_and_a_crash_copy_after_a_checkpoint_reads_back() {
    let path = temp("reuse.db");
    let wal = path.with_file_name("reuse.db-wal");
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    let filler = "x".repeat(1500);
    let (mut saved, mut longest, mut after_checkpoint) = (0u64, 0u64, None);
    while saved < 5_000 {
        let main_before = len(&path);
        db.snapshots()
            .save(
                StateSnapshotInput::new(
                    format!("t{}", saved % 40),
                    data(json!({"n": saved, "f": filler})),
                ),
                SaveOptions::default(),
            )
            .unwrap();
        saved += 1;
        assert!(len(&wal) >= longest, "the open log never shrinks");
        longest = longest.max(len(&wal));
        if after_checkpoint.is_none() && len(&path) > main_before && saved > 100 {
            after_checkpoint = Some(saved); // the checkpoint copied the log into the main file
        }
        if after_checkpoint.is_some_and(|at| saved >= at + 5) {
            break;
        }
    }
    assert!(
        after_checkpoint.is_some(),
        "a checkpoint ran within {saved} saves"
    );
    // The files as a crash would leave them (each commit is synced before it is acknowledged).
    let copy = temp("reuse-crash.db");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(&wal, copy.with_file_name("reuse-crash.db-wal")).unwrap();
    let expected = db.snapshots().list_tasks().unwrap();
    let again = SqliteStateDb::open_path(&copy, runtime()).unwrap();
    assert_eq!(again.snapshots().list_tasks().unwrap(), expected);
    let total: u64 = expected.iter().map(|t| t.versions).sum();
    assert_eq!(total, saved);
    let last = again
        .snapshots()
        .get(&format!("t{}", (saved - 1) % 40), None)
        .unwrap()
        .unwrap();
    assert_eq!(last.data.get("n"), Some(&json!(saved - 1)));
    again.close().unwrap();
    db.close().unwrap();
    assert_eq!(len(&wal), 0, "a clean close empties the log");
}
