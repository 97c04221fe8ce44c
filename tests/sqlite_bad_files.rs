//! Files that are not asap-state databases (CONTRACT.md §6): random bytes, truncated and damaged
//! copies of the reference's `state-wal.db`, empty input, an HTML page, JSON, and SQLite files of
//! other applications or with other columns.
//!
//! Each is opened with `SqliteStateDb::open_bytes` and with `open_path` (on a copy in a temporary
//! directory) and must fail with exactly `CORRUPT_DATABASE` or `SCHEMA_MISMATCH`, never panic,
//! and leave the input bytes / file unchanged (compared by length + FNV-1a hash, and byte for
//! byte). A zero-length *file* is a fresh database by design (as with `sqlite3`); zero-length
//! *bytes* are `CORRUPT_DATABASE`.

#![allow(clippy::restriction)] // Tests panic by design: the no-panic lints are for library code.

mod sqlite_support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use asap_state::{
    MeteringStore, SaveOptions, SnapshotStore, SqliteStateDb, StateError, StateSnapshotInput,
    UsageEventInput,
};
use serde_json::json;
use sqlite_support::{
    code, digest, file_digest, read_fixture, runtime, sqlite3, sqlite3_raw, TempDir,
    CONTRACT_SCHEMA,
};

/// (name, input, the code it must give).
type Case = (String, Vec<u8>, &'static str);
/// (name, input) of a damaged file sqlite3 cannot tell from a valid one.
type Intact = (String, Vec<u8>);

const CORRUPT: &str = "CORRUPT_DATABASE";
const MISMATCH: &str = "SCHEMA_MISMATCH";

/// A deterministic xorshift64* byte stream.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// How much of "the input is unchanged" a check requires of `open_path`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Untouched {
    /// Only the outcome (code, no panic); `open_bytes`' input is always checked.
    CodeOnly,
    /// The file is byte-identical afterwards.
    MainFile,
    /// The file is byte-identical and nothing was created beside it (no `-wal`).
    Everything,
}

/// Notes a problem unless `what` (caught with `catch_unwind`) returned an error with code
/// `want` (or `Ok`, when `want` is `"ok"`).
fn check_code<T>(
    problems: &mut Vec<String>,
    name: &str,
    what: &str,
    outcome: &std::thread::Result<Result<T, StateError>>,
    want: &str,
) {
    match outcome {
        Err(_) => problems.push(format!("{name}: {what} PANICKED")),
        Ok(r) if code(r) != want => problems.push(format!(
            "{name}: {what} gave {} ({}), want {want}",
            code(r),
            message(r)
        )),
        Ok(_) => {}
    }
}

/// Opens `bytes` both ways and checks the outcome; returns the problems found (empty = fine).
fn refused(name: &str, bytes: &[u8], want: &str, untouched: Untouched) -> Vec<String> {
    let mut problems = Vec::new();
    let before = digest(bytes);

    // From bytes.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        SqliteStateDb::open_bytes(bytes, runtime()).map(|_| ())
    }));
    check_code(&mut problems, name, "open_bytes", &outcome, want);
    if digest(bytes) != before {
        problems.push(format!("{name}: open_bytes changed its input"));
    }

    // From a file.
    let dir = TempDir::new("bad-file");
    let path = dir.join("bad.db");
    std::fs::write(&path, bytes).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        SqliteStateDb::open_path(&path, runtime()).map(|db| db.close())
    }));
    check_code(&mut problems, name, "open_path", &outcome, want);
    if untouched >= Untouched::MainFile {
        let after = std::fs::read(&path).unwrap();
        if file_digest(&path) != before || after != bytes {
            problems.push(format!(
                "{name}: open_path changed the file: {}",
                describe_change(bytes, &after)
            ));
        }
    }
    if untouched >= Untouched::Everything {
        let files = dir.files();
        if files != ["bad.db"] {
            let sizes: Vec<String> = files
                .iter()
                .map(|f| {
                    format!(
                        "{f} ({} bytes)",
                        std::fs::metadata(dir.join(f)).unwrap().len()
                    )
                })
                .collect();
            problems.push(format!(
                "{name}: open_path left files beside the input: {sizes:?}"
            ));
        }
    }
    problems
}

/// Which bytes changed, for messages.
fn describe_change(before: &[u8], after: &[u8]) -> String {
    let differing: Vec<usize> = (0..before.len().max(after.len()))
        .filter(|&i| before.get(i) != after.get(i))
        .collect();
    let shown: Vec<String> = differing
        .iter()
        .take(6)
        .map(|&i| format!("@{i}: {:?} -> {:?}", before.get(i), after.get(i)))
        .collect();
    format!(
        "{} -> {} bytes, {} bytes differ ({})",
        before.len(),
        after.len(),
        differing.len(),
        shown.join(", ")
    )
}

fn message<T>(r: &Result<T, StateError>) -> String {
    match r {
        Ok(_) => "opened".into(),
        Err(e) => e.message().to_owned(),
    }
}

fn assert_all_refused(label: &str, cases: &[Case], untouched: Untouched) {
    let mut problems = Vec::new();
    for (name, bytes, want) in cases {
        problems.extend(refused(name, bytes, want, untouched));
    }
    println!(
        "{label}: {} inputs x 2 ways (open_bytes, open_path), {} problems",
        cases.len(),
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{label}: {} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A SQLite file made by the `sqlite3` CLI from `sql`.
fn sqlite3_file(sql: &str) -> Vec<u8> {
    let dir = TempDir::new("bad-cli");
    let path = dir.join("made.db");
    sqlite3(&path, sql);
    std::fs::read(&path).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Not SQLite at all
// ---------------------------------------------------------------------------------------------

#[test]
fn random_bytes_are_corrupt() {
    let mut cases = Vec::new();
    for (i, len) in [1usize, 15, 100, 511, 512, 1000, 4096, 8192, 65_536 + 17]
        .into_iter()
        .enumerate()
    {
        cases.push((
            format!("random {len} bytes"),
            random_bytes(i as u64 + 1, len),
            CORRUPT,
        ));
    }
    // The SQLite magic followed by noise.
    for (i, len) in [512usize, 4096, 16_384].into_iter().enumerate() {
        let mut b = random_bytes(100 + i as u64, len);
        b[..16].copy_from_slice(b"SQLite format 3\0");
        cases.push((format!("magic + {len} random bytes"), b, CORRUPT));
    }
    // A valid header (page 1 of the reference's file, 4096-byte pages) followed by noise.
    let wal = read_fixture("state-wal.db");
    let mut b = wal[..4096].to_vec();
    b.extend(random_bytes(7, wal.len() - 4096));
    cases.push(("page 1 of state-wal.db + random pages".into(), b, CORRUPT));
    let mut b = wal.clone();
    b[100..4096].copy_from_slice(&random_bytes(8, 4096 - 100));
    cases.push((
        "state-wal.db with page 1 after the header random".into(),
        b,
        CORRUPT,
    ));
    assert_all_refused("random bytes", &cases, Untouched::Everything);
}

#[test]
fn text_files_are_corrupt() {
    let html = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1>\
                <p>The requested URL /state.db was not found on this server.</p></body></html>\n";
    let long_html = html.repeat(40);
    let cases = vec![
        ("an HTML page".to_owned(), html.as_bytes().to_vec(), CORRUPT),
        (
            "a long HTML page (multiple of 512 bytes)".to_owned(),
            long_html.as_bytes()[..4096].to_vec(),
            CORRUPT,
        ),
        (
            "expected.json".to_owned(),
            read_fixture("expected.json"),
            CORRUPT,
        ),
        (
            "SQL text".to_owned(),
            CONTRACT_SCHEMA.as_bytes().to_vec(),
            CORRUPT,
        ),
        ("4096 zero bytes".to_owned(), vec![0u8; 4096], CORRUPT),
    ];
    assert_all_refused("text files", &cases, Untouched::Everything);
}

#[test]
fn zero_length_bytes_are_corrupt_but_a_zero_length_file_is_a_fresh_database() {
    let r = SqliteStateDb::open_bytes(&[], runtime());
    assert_eq!(code(&r), CORRUPT, "{}", message(&r));

    let dir = TempDir::new("bad-empty");
    let path = dir.join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let db = SqliteStateDb::open_path(&path, runtime()).unwrap();
    assert!(db.snapshots().list_tasks().unwrap().is_empty());
    assert!(db.metering().agents().unwrap().is_empty());
    db.snapshots()
        .save(
            StateSnapshotInput::new("t", json!({"a": 1}).as_object().cloned().unwrap()),
            SaveOptions::default(),
        )
        .unwrap();
    db.metering()
        .record(UsageEventInput::new("t", "agent", "c"))
        .unwrap();
    db.close().unwrap();
    assert_eq!(sqlite3(&path, "PRAGMA integrity_check;").trim(), "ok");
    assert_eq!(
        sqlite3(
            &path,
            "SELECT count(*) FROM snapshots; SELECT count(*) FROM usage_events;"
        ),
        "1\n1\n"
    );
    // A missing file is created, too.
    let missing = dir.join("missing.db");
    let db = SqliteStateDb::open_path(&missing, runtime()).unwrap();
    assert_eq!(
        db.snapshots().list_versions("t").unwrap(),
        Vec::<u64>::new()
    );
    db.close().unwrap();
    assert_eq!(sqlite3(&missing, "PRAGMA integrity_check;").trim(), "ok");
}

// ---------------------------------------------------------------------------------------------
// Truncated and damaged copies of the reference's file
// ---------------------------------------------------------------------------------------------

#[test]
fn truncated_files_are_corrupt() {
    let wal = read_fixture("state-wal.db");
    let page = 4096;
    assert_eq!(u16::from_be_bytes([wal[16], wal[17]]) as usize, page);
    assert_eq!(wal.len() % page, 0);
    let pages = wal.len() / page;
    let mut cases = Vec::new();
    for cut in [
        50,
        100,
        1000,
        page / 2,
        page + page / 2,
        10 * page + 123,
        wal.len() - page + 1,
        wal.len() - 1,
    ] {
        cases.push((
            format!("state-wal.db cut mid-page at {cut}"),
            wal[..cut].to_vec(),
            CORRUPT,
        ));
    }
    for keep in [1, 2, 5, pages / 2, pages - 1] {
        cases.push((
            format!("state-wal.db cut at the page boundary after page {keep}/{pages}"),
            wal[..keep * page].to_vec(),
            CORRUPT,
        ));
    }
    assert_all_refused("truncated", &cases, Untouched::Everything);
}

/// The b-tree page kinds of the SQLite file format.
fn btree_kind(t: u8) -> Option<&'static str> {
    match t {
        2 => Some("interior index"),
        5 => Some("interior table"),
        10 => Some("leaf index"),
        13 => Some("leaf table"),
        _ => None,
    }
}

/// Whether the real `sqlite3` finds `bytes` damaged (`PRAGMA integrity_check` is not `ok`, or
/// it cannot read the file at all).
fn sqlite3_finds_damage(bytes: &[u8]) -> bool {
    let dir = TempDir::new("bad-oracle");
    let path = dir.join("damaged.db");
    std::fs::write(&path, bytes).unwrap();
    let (ok, out, _) = sqlite3_raw(&path, "PRAGMA integrity_check;");
    !ok || out.trim() != "ok"
}

/// Damaged copies of `image` (4096-byte pages): for every b-tree page, its type byte, cell
/// count, content start, first/last cell pointers, right-most child, the first byte of its first
/// cell and two bytes inside the first cell's payload; for other pages their next-page pointer.
/// Returns (variants the real sqlite3 finds damaged, variants it does not).
fn damage_variants(label: &str, image: &[u8]) -> (Vec<Case>, Vec<Intact>) {
    let page = 4096;
    let pages = image.len() / page;
    let mut cases = Vec::new();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    let mut undetectable = Vec::new();
    for pgno in 1..=pages {
        let start = (pgno - 1) * page;
        let off = start + if pgno == 1 { 100 } else { 0 };
        let kind = btree_kind(image[off]);
        *kinds.entry(kind.unwrap_or("other")).or_default() += 1;
        // (what, byte offsets, xor mask)
        let mut damage: Vec<(&str, Vec<usize>, u8)> = Vec::new();
        if kind.is_some() {
            let interior = matches!(image[off], 2 | 5);
            let header = if interior { 12 } else { 8 };
            let ncells = u16::from_be_bytes([image[off + 3], image[off + 4]]) as usize;
            damage.push(("page type byte", vec![off], 0xFF));
            damage.push(("cell count", vec![off + 3, off + 4], 0xFF));
            damage.push(("cell content start", vec![off + 5], 0xFF));
            if ncells > 0 {
                damage.push((
                    "first cell pointer",
                    vec![off + header, off + header + 1],
                    0xFF,
                ));
                let last = off + header + 2 * (ncells - 1);
                damage.push(("last cell pointer", vec![last, last + 1], 0xFF));
                // The first byte of the first cell (a child page number's high byte on
                // interior pages, the payload length on leaves), and bytes of its payload.
                let cell = start
                    + u16::from_be_bytes([image[off + header], image[off + header + 1]]) as usize;
                damage.push(("first cell's first byte", vec![cell], 0xFF));
                for delta in [6, 12] {
                    if cell + delta < start + page {
                        damage.push(("a bit inside the first cell", vec![cell + delta], 0x01));
                    }
                }
            }
            if interior {
                damage.push(("right-most child pointer", vec![off + 8, off + 9], 0xFF));
            }
        } else {
            // Overflow or freelist pages: their first 4 bytes are a page number.
            damage.push(("next-page pointer", vec![start, start + 1], 0xFF));
        }
        for (what, offsets, mask) in damage {
            let mut b = image.to_vec();
            for o in &offsets {
                b[*o] ^= mask;
            }
            let name = format!(
                "{label} page {pgno} ({}): {what} flipped (^{mask:#04x}) at {offsets:?}",
                kind.unwrap_or("not a b-tree page")
            );
            if sqlite3_finds_damage(&b) {
                cases.push((name, b, CORRUPT));
            } else {
                // sqlite3 itself cannot tell (a value changed, not the structure); we only
                // require no panic and an unchanged input.
                undetectable.push((name, b));
            }
        }
    }
    println!(
        "{label}: {pages} pages ({kinds:?}); {} damaged variants sqlite3 detects, {} it does not",
        cases.len(),
        undetectable.len()
    );
    assert!(
        cases.len() >= 40,
        "too few damage variants: {}",
        cases.len()
    );
    (cases, undetectable)
}

/// Variants sqlite3 cannot tell from valid files: no panic (reading everything), input unchanged.
fn assert_undetectable_handled(undetectable: &[Intact]) {
    let mut problems = Vec::new();
    let mut opened = 0;
    for (name, b) in undetectable {
        let before = digest(b);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            SqliteStateDb::open_bytes(b, runtime()).map(|db| {
                // Read everything: nothing may panic.
                let _ = db.snapshots().list_tasks();
                let _ = db
                    .metering()
                    .export(asap_state::ExportFormat::Json, &Default::default());
            })
        }));
        match &outcome {
            Err(_) => problems.push(format!("{name}: PANICKED")),
            Ok(Ok(())) => opened += 1,
            Ok(Err(e)) => println!(
                "  {name}: sqlite3 finds it intact, asap-state refuses it: {} ({})",
                e.code(),
                e.message()
            ),
        }
        if digest(b) != before {
            problems.push(format!("{name}: input changed"));
        }
    }
    println!(
        "  {} variants sqlite3 finds intact: {opened} opened, {} refused, no panic",
        undetectable.len(),
        undetectable.len() - opened
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn damaged_pages_are_corrupt() {
    let (cases, undetectable) = damage_variants("state-wal.db", &read_fixture("state-wal.db"));
    // Untouched::MainFile here; the -wal beside it is checked by
    // `refused_files_are_left_unchanged_by_open_path`.
    assert_all_refused("damaged pages (WAL-mode file)", &cases, Untouched::MainFile);
    assert_undetectable_handled(&undetectable);
}

/// The reference's file switched to rollback-journal mode by sqlite3 (on a copy).
fn rollback_image() -> Vec<u8> {
    let dir = TempDir::new("bad-rollback");
    let path = dir.join("state-rollback-mode.db");
    std::fs::write(&path, read_fixture("state-wal.db")).unwrap();
    sqlite3(&path, "PRAGMA journal_mode=DELETE;");
    let image = std::fs::read(&path).unwrap();
    assert_eq!((image[18], image[19]), (1, 1));
    image
}

#[test]
fn damaged_pages_of_a_rollback_journal_file_are_corrupt() {
    let (cases, undetectable) = damage_variants("rollback-mode state-wal.db", &rollback_image());
    // Untouched::CodeOnly here; what open_path leaves on disk is checked by
    // `refused_files_are_left_unchanged_by_open_path`.
    assert_all_refused(
        "damaged pages (rollback-journal file)",
        &cases,
        Untouched::CodeOnly,
    );
    assert_undetectable_handled(&undetectable);
}

// ---------------------------------------------------------------------------------------------
// SQLite files that are not asap-state databases
// ---------------------------------------------------------------------------------------------

fn schema_mismatch_cases() -> Vec<Case> {
    let snapshots_extra = "CREATE TABLE snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, \
         data TEXT NOT NULL, checkpoint INTEGER NOT NULL, created_at TEXT NOT NULL, extra TEXT, PRIMARY KEY (task_id, version));";
    let snapshots_fewer = "CREATE TABLE snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, \
         data TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, version));";
    let snapshots_renamed = "CREATE TABLE snapshots (task_id TEXT NOT NULL, snapshot_id TEXT NOT NULL, version INTEGER NOT NULL, \
         data TEXT NOT NULL, checkpoint INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, version));";
    let events_other = "CREATE TABLE usage_events (id TEXT PRIMARY KEY, agent TEXT, tokens INTEGER, timestamp TEXT);";
    vec![
        (
            "another application's tables only".to_owned(),
            sqlite3_file(
                "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); \
                 CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total REAL); \
                 INSERT INTO users VALUES (1, 'ada'); INSERT INTO orders VALUES (1, 1, 9.5);",
            ),
            MISMATCH,
        ),
        (
            "another application's tables only (WAL mode)".to_owned(),
            sqlite3_file(
                "PRAGMA journal_mode=WAL; CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB); \
                 INSERT INTO kv VALUES ('a', x'00ff');",
            ),
            MISMATCH,
        ),
        (
            "snapshots with an extra column".to_owned(),
            sqlite3_file(&format!(
                "{snapshots_extra} INSERT INTO snapshots VALUES ('t', 's', 1, '{{}}', 0, '2026-01-01T00:00:00+00:00', 'x');"
            )),
            MISMATCH,
        ),
        (
            "snapshots without the checkpoint column".to_owned(),
            sqlite3_file(snapshots_fewer),
            MISMATCH,
        ),
        (
            "snapshots with a renamed column".to_owned(),
            sqlite3_file(snapshots_renamed),
            MISMATCH,
        ),
        (
            "usage_events with other columns".to_owned(),
            sqlite3_file(events_other),
            MISMATCH,
        ),
        (
            "right snapshots, usage_events with other columns".to_owned(),
            sqlite3_file(&format!(
                "CREATE TABLE snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, \
                 data TEXT NOT NULL, checkpoint INTEGER NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, version)); {events_other}"
            )),
            MISMATCH,
        ),
    ]
}

#[test]
fn other_applications_and_other_columns_are_schema_mismatch() {
    // The exact code, no panic, open_bytes leaves its input unchanged; open_path's effect on
    // the file is checked by `refused_files_are_left_unchanged_by_open_path`.
    let cases = schema_mismatch_cases();
    assert_all_refused("schema mismatch", &cases, Untouched::CodeOnly);
    for (name, bytes, _) in &cases {
        let before = digest(bytes);
        let _ = SqliteStateDb::open_bytes(bytes, runtime());
        assert_eq!(digest(bytes), before, "{name}");
    }
}

#[test]
/// CONTRACT §6: a refused file is never changed, even when the refusal comes from the engine
/// (integrity_check, the schema check): those run on a copy in memory first.
fn refused_files_are_left_unchanged_by_open_path() {
    let mut cases = schema_mismatch_cases();
    let (damaged, _) = damage_variants("state-wal.db", &read_fixture("state-wal.db"));
    cases.extend(damaged);
    let (damaged, _) = damage_variants("rollback-mode state-wal.db", &rollback_image());
    cases.extend(damaged);
    assert_all_refused(
        "refused files (file untouched)",
        &cases,
        Untouched::Everything,
    );
}

#[test]
/// A malformed schema row the engine cannot read is a damaged file (`CORRUPT_DATABASE`), not a
/// storage failure. (Found by flipping bit 0 of byte 3782 of state-wal.db.)
fn schema_rows_with_blob_names_open_or_are_corrupt_not_storage_io() {
    let bytes = sqlite3_file(&format!(
        "{CONTRACT_SCHEMA} INSERT INTO snapshots VALUES ('t', 's', 1, '{{}}', 0, '2026-01-01T00:00:00+00:00'); \
         PRAGMA writable_schema=ON; \
         UPDATE sqlite_master SET tbl_name = CAST(tbl_name AS BLOB) WHERE name = 'snapshots'; \
         PRAGMA writable_schema=OFF;"
    ));
    let r = SqliteStateDb::open_bytes(&bytes, runtime());
    assert!(
        matches!(code(&r), "ok" | "CORRUPT_DATABASE"),
        "open_bytes: {} ({})",
        code(&r),
        message(&r)
    );
    if let Ok(db) = r {
        assert_eq!(db.snapshots().list_versions("t").unwrap(), [1]);
    }
}

#[test]
fn extra_tables_beside_the_contract_tables_and_empty_sqlite_files_open() {
    // Positive controls for the cases above: extra tables are allowed (CONTRACT.md §6), and a
    // SQLite file without tables is simply empty.
    for (name, sql, tasks) in [
        (
            "contract tables + an extra table",
            format!(
                "{CONTRACT_SCHEMA} CREATE TABLE my_notes (note TEXT); INSERT INTO my_notes VALUES ('hi'); \
                 INSERT INTO snapshots VALUES ('t', 's', 1, '{{\"a\": 1}}', 1, '2026-01-01T00:00:00+00:00');"
            ),
            1,
        ),
        (
            "only usage_events, no snapshots table",
            "CREATE TABLE usage_events (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, agent_id TEXT NOT NULL, \
             consumer_id TEXT NOT NULL, metrics TEXT NOT NULL, timestamp TEXT NOT NULL);"
                .to_owned(),
            0,
        ),
        ("a SQLite file without tables", "PRAGMA user_version = 7;".to_owned(), 0),
    ] {
        let bytes = sqlite3_file(&sql);
        let before = digest(&bytes);
        let db = SqliteStateDb::open_bytes(&bytes, runtime())
            .unwrap_or_else(|e| panic!("{name}: {} {e}", e.code()));
        assert_eq!(db.snapshots().list_tasks().unwrap().len(), tasks, "{name}");
        assert_eq!(digest(&bytes), before);
        let dir = TempDir::new("bad-positive");
        let path = dir.join("ok.db");
        std::fs::write(&path, &bytes).unwrap();
        let db = SqliteStateDb::open_path(&path, runtime())
            .unwrap_or_else(|e| panic!("{name} (path): {} {e}", e.code()));
        assert_eq!(db.snapshots().list_tasks().unwrap().len(), tasks, "{name}");
        db.close().unwrap();
        assert_eq!(sqlite3(&path, "PRAGMA integrity_check;").trim(), "ok");
    }
}
