//! The database as a reader sees it: the main file with the committed frames of its write-ahead
//! log applied, for the structural check that runs before the engine opens a file.
//!
//! In WAL mode the main file alone is not a consistent database: a checkpoint copies pages from
//! the log into it in page order, page 1 (with the new page count and schema pointers) first, so
//! a process killed during a checkpoint leaves a main file whose page 1 points at pages not
//! written yet — which the log still holds, and which every reader (SQLite, the engine) takes
//! from the log. Checking the main file alone refused such a file as damaged; the crash test
//! (tests/js/crash.test.mjs) found it. The frames are read as SQLite's WAL format says: a frame
//! counts only if its salts match the header's and its cumulative checksum holds, and only frames
//! up to the last commit frame are applied.

use std::borrow::Cow;

const HEADER: usize = 32;
const FRAME_HEADER: usize = 24;
const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// SQLite's WAL checksum of `data` (a multiple of 8 bytes), continuing from `(s0, s1)`.
fn checksum(data: &[u8], big_endian: bool, (mut s0, mut s1): (u32, u32)) -> Option<(u32, u32)> {
    if !data.len().is_multiple_of(8) {
        return None;
    }
    for pair in data.chunks_exact(8) {
        let word = |at: usize| -> Option<u32> {
            let bytes: [u8; 4] = pair.get(at..at.checked_add(4)?)?.try_into().ok()?;
            Some(if big_endian {
                u32::from_be_bytes(bytes)
            } else {
                u32::from_le_bytes(bytes)
            })
        };
        s0 = s0.wrapping_add(word(0)?).wrapping_add(s1);
        s1 = s1.wrapping_add(word(4)?).wrapping_add(s0);
    }
    Some((s0, s1))
}

/// `main` with the committed frames of `wal` applied, when `wal` is a valid log for pages of
/// `page_size` bytes; `main` itself when there is no log, it holds no committed frame, or it is
/// not one SQLite would read (a reader then ignores it too).
pub fn apply<'a>(main: &'a [u8], wal: Option<&[u8]>, page_size: usize) -> Cow<'a, [u8]> {
    match wal.and_then(|w| committed_frames(w, page_size)) {
        Some(frames) if !frames.pages.is_empty() => Cow::Owned(overlay(main, &frames, page_size)),
        _ => Cow::Borrowed(main),
    }
}

/// The pages of the committed frames (in log order, later ones win) and the database's size in
/// pages after the last commit.
struct Frames<'w> {
    pages: Vec<(u32, &'w [u8])>,
    db_pages: u32,
}

fn committed_frames(wal: &[u8], page_size: usize) -> Option<Frames<'_>> {
    let magic = u32_at(wal, 0)?;
    let big_endian = match magic {
        MAGIC_BE => true,
        MAGIC_LE => false,
        _ => return None,
    };
    if usize::try_from(u32_at(wal, 8)?).ok()? != page_size {
        return None;
    }
    let (salt1, salt2) = (u32_at(wal, 16)?, u32_at(wal, 20)?);
    let mut sum = checksum(wal.get(..24)?, big_endian, (0, 0))?;
    if sum != (u32_at(wal, 24)?, u32_at(wal, 28)?) {
        return None;
    }
    let frame_size = FRAME_HEADER.checked_add(page_size)?;
    let mut pages = Vec::new();
    // The frames up to the last commit frame count: how many, and the size that commit gave.
    let (mut committed, mut db_pages) = (0, 0);
    let mut at = HEADER;
    while let Some(frame) = wal.get(at..at.checked_add(frame_size)?) {
        let (header, page) = frame.split_at(FRAME_HEADER);
        if (u32_at(header, 8)?, u32_at(header, 12)?) != (salt1, salt2) {
            break;
        }
        sum = checksum(header.get(..8)?, big_endian, sum)?;
        sum = checksum(page, big_endian, sum)?;
        if sum != (u32_at(header, 16)?, u32_at(header, 20)?) {
            break;
        }
        let pgno = u32_at(header, 0)?;
        if pgno == 0 {
            break;
        }
        pages.push((pgno, page));
        let size = u32_at(header, 4)?;
        if size != 0 {
            committed = pages.len();
            db_pages = size;
        }
        at = at.checked_add(frame_size)?;
    }
    pages.truncate(committed);
    Some(Frames { pages, db_pages })
}

fn overlay(main: &[u8], frames: &Frames<'_>, page_size: usize) -> Vec<u8> {
    // The committed size, but never more bytes than the two files hold: every page of a whole
    // database is in the main file or the log, so a larger size (or a frame for a page beyond
    // it) comes from a damaged log, and must not make this allocate (in wasm, running out of
    // memory is a trap). Pages left out make the structural check refuse the file.
    let held = frames
        .pages
        .len()
        .saturating_mul(page_size)
        .saturating_add(main.len());
    let size = usize::try_from(frames.db_pages)
        .ok()
        .and_then(|n| n.checked_mul(page_size))
        .map_or(main.len(), |size| size.min(held));
    let mut image = main.to_vec();
    image.resize(size, 0);
    for (pgno, page) in &frames.pages {
        let start = usize::try_from(pgno.saturating_sub(1))
            .ok()
            .and_then(|n| n.checked_mul(page_size));
        if let Some(slot) = start
            .and_then(|s| Some(s..s.checked_add(page_size)?))
            .and_then(|range| image.get_mut(range))
        {
            slot.copy_from_slice(page);
        }
    }
    image
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
pub(crate) mod tests {
    use super::*;

    /// A database in WAL mode written by the real SQLite, never checkpointed: (main file, log,
    /// the same database checkpointed). `ddl` makes the tables (checkpointed at once), then
    /// `insert` writes row `k` for each of `rows`.
    pub(crate) fn sqlite_wal_with(
        ddl: &[&str],
        rows: usize,
        insert: impl Fn(&rusqlite::Connection, usize),
    ) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("asap-wal-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        for statement in ddl {
            conn.execute_batch(statement).unwrap();
        }
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        for k in 0..rows {
            insert(&conn, k);
        }
        let main = std::fs::read(&path).unwrap();
        let wal = std::fs::read(dir.join("db-wal")).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        let checkpointed = std::fs::read(&path).unwrap();
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
        (main, wal, checkpointed)
    }

    fn sqlite_wal(rows: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        sqlite_wal_with(
            &["CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"],
            rows,
            |conn, k| {
                conn.execute("INSERT INTO t VALUES (?1, ?2)", (k, "v".repeat(300)))
                    .unwrap();
            },
        )
    }

    #[test]
    fn the_log_applied_is_the_checkpointed_database() {
        let (main, wal, checkpointed) = sqlite_wal(200);
        assert!(checkpointed.len() > main.len(), "the log holds new pages");
        assert_eq!(
            apply(&main, Some(&wal), 4096).as_ref(),
            checkpointed.as_slice()
        );
        // A checkpoint killed after page 1 (the new size, new pointers) was written: the
        // main file alone points past its end; with the log it is whole again.
        let mut torn = main.clone();
        torn[..4096].copy_from_slice(&checkpointed[..4096]);
        assert_eq!(
            apply(&torn, Some(&wal), 4096).as_ref(),
            checkpointed.as_slice()
        );
    }

    /// Writes the cumulative checksums of every frame again (after a frame header was edited).
    fn reseal(wal: &mut [u8]) {
        let big_endian = u32_at(wal, 0) == Some(MAGIC_BE);
        let mut sum = (u32_at(wal, 24).unwrap(), u32_at(wal, 28).unwrap());
        let frame = FRAME_HEADER + 4096;
        let mut at = HEADER;
        while at + frame <= wal.len() {
            sum = checksum(&wal[at..at + 8], big_endian, sum).unwrap();
            sum = checksum(&wal[at + FRAME_HEADER..at + frame], big_endian, sum).unwrap();
            wal[at + 16..at + 20].copy_from_slice(&sum.0.to_be_bytes());
            wal[at + 20..at + 24].copy_from_slice(&sum.1.to_be_bytes());
            at += frame;
        }
    }

    #[test]
    fn only_valid_committed_frames_count() {
        let (main, wal, _) = sqlite_wal(40);
        // No log, another page size, a damaged header: the main file as it is.
        assert_eq!(apply(&main, None, 4096).as_ref(), main.as_slice());
        assert_eq!(apply(&main, Some(&wal), 1024).as_ref(), main.as_slice());
        let mut bad = wal.clone();
        bad[0] ^= 1;
        assert_eq!(apply(&main, Some(&bad), 4096).as_ref(), main.as_slice());
        let mut bad = wal.clone();
        bad[24] ^= 1;
        assert_eq!(apply(&main, Some(&bad), 4096).as_ref(), main.as_slice());
        // A log cut inside its last frame, or with a damaged last frame: the commits before.
        let frame = FRAME_HEADER + 4096;
        let frames = (wal.len() - HEADER) / frame;
        assert!(frames > 2);
        let before_last =
            apply(&main, Some(&wal[..HEADER + (frames - 1) * frame]), 4096).into_owned();
        assert_eq!(
            apply(&main, Some(&wal[..wal.len() - 1]), 4096).as_ref(),
            before_last.as_slice()
        );
        let mut bad = wal.clone();
        let last = wal.len() - 100;
        bad[last] ^= 0xff;
        assert_eq!(
            apply(&main, Some(&bad), 4096).as_ref(),
            before_last.as_slice()
        );
        // A commit frame claiming a huge database: the size is capped by the pages held.
        let mut huge = wal.clone();
        let last = HEADER + (frames - 1) * frame;
        huge[last + 4..last + 8].copy_from_slice(&u32::MAX.to_be_bytes());
        reseal(&mut huge);
        let applied = apply(&main, Some(&huge), 4096);
        assert_ne!(
            applied.as_ref(),
            main.as_slice(),
            "the resealed log is read"
        );
        assert!(applied.len() <= main.len() + frames * 4096);
        // A committed frame for a page far past the end (pgno 1,000,000: 4 GB at 4 KiB pages):
        // the image stays within what the files hold, and that page is left out.
        let mut far = wal.clone();
        far[last..last + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
        far[last + 4..last + 8].copy_from_slice(&1_000_000u32.to_be_bytes());
        reseal(&mut far);
        let applied = apply(&main, Some(&far), 4096);
        assert_ne!(
            applied.as_ref(),
            main.as_slice(),
            "the resealed log is read"
        );
        assert!(applied.len() <= main.len() + frames * 4096);
        // Garbage of any length is never a panic.
        for n in [0, 1, 31, 32, 33, 56, 4120, 4121] {
            let _ = apply(&main, Some(&vec![0x37; n]), 4096);
        }
    }
}
