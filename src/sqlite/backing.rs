//! Where a database's files live: the small storage layer under the SQL engine.
//!
//! The engine opens `<path>` and `<path>-wal` through a [`BackingStore`]; every operation is
//! synchronous and complete when it returns. Implementations: [`MemoryStore`] (file images in
//! memory, every runtime), [`FsStore`] (real files, native targets), and the hosts' own (the wasm
//! bindings bring Node's `fs` and the browser's OPFS).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One file: positioned reads and writes that complete inside the call.
pub trait BackingFile: Send + Sync {
    /// Reads into `buf` from `pos`; returns how many bytes were read (fewer at the end of file).
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String>;
    /// Writes all of `data` at `pos`, growing the file as needed.
    fn write_at(&self, pos: u64, data: &[u8]) -> Result<(), String>;
    /// Writes `parts` one after another from `pos` (the frames of one commit, say), as that
    /// many [`write_at`](Self::write_at)s would. A file whose every write is a system call or
    /// a call into the host joins them ([`write_joined`]).
    fn write_parts_at(&self, pos: u64, parts: &[&[u8]]) -> Result<(), String> {
        let mut at = pos;
        for part in parts {
            self.write_at(at, part)?;
            at = advance(at, part.len())?;
        }
        Ok(())
    }
    /// The file's length.
    fn size(&self) -> Result<u64, String>;
    /// Cuts or extends the file to `len` bytes.
    fn truncate(&self, len: u64) -> Result<(), String>;
    /// Makes written data durable.
    fn sync(&self) -> Result<(), String>;
}

/// `pos` moved past `len` bytes.
fn advance(pos: u64, len: usize) -> Result<u64, String> {
    u64::try_from(len)
        .ok()
        .and_then(|len| pos.checked_add(len))
        .ok_or_else(|| "write end overflows".to_owned())
}

/// The most bytes [`write_joined`] copies into one write.
const JOINED_BYTES: usize = 1 << 20;

/// [`BackingFile::write_parts_at`] with one `write_at` per run of parts of at most
/// [`JOINED_BYTES`] (a part that size or larger is written alone, without a copy): the three or
/// four frames of a small commit are one write instead of one each.
pub fn write_joined(file: &dyn BackingFile, pos: u64, parts: &[&[u8]]) -> Result<(), String> {
    if let [only] = parts {
        return file.write_at(pos, only);
    }
    let (mut at, mut run) = (pos, Vec::new());
    for part in parts {
        if !run.is_empty() && run.len().saturating_add(part.len()) > JOINED_BYTES {
            file.write_at(at, &run)?;
            at = advance(at, run.len())?;
            run.clear();
        }
        if run.is_empty() && part.len() >= JOINED_BYTES {
            file.write_at(at, part)?;
            at = advance(at, part.len())?;
            continue;
        }
        run.try_reserve(part.len())
            .map_err(|_| format!("no memory to write {} bytes", part.len()))?;
        run.extend_from_slice(part);
    }
    if !run.is_empty() {
        file.write_at(at, &run)?;
    }
    Ok(())
}

/// A namespace of files.
pub trait BackingStore: Send + Sync {
    /// Opens `path`; creates it empty when `create` is set, else `Ok(None)` if it is missing.
    fn open(&self, path: &str, create: bool) -> Result<Option<Arc<dyn BackingFile>>, String>;
    /// Removes `path` (nothing if it is missing).
    fn remove(&self, path: &str) -> Result<(), String>;
    /// Whether the files live in this process's memory (a database image): the engine then
    /// gives the space of a write-ahead log back when it cuts it; on disk it reuses the blocks.
    fn in_memory(&self) -> bool {
        false
    }
}

/// Reads a whole file.
pub fn read_all(file: &dyn BackingFile) -> Result<Vec<u8>, String> {
    let len = usize::try_from(file.size()?).map_err(|_| "file too large for memory".to_owned())?;
    let mut buf = vec![0u8; len];
    let mut done = 0usize;
    while done < len {
        let rest = buf.get_mut(done..).unwrap_or_default();
        let n = file.read_at(u64::try_from(done).unwrap_or(u64::MAX), rest)?;
        if n == 0 {
            break;
        }
        done = done.saturating_add(n);
    }
    buf.truncate(done);
    Ok(buf)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A file held in memory.
#[derive(Debug, Default)]
pub struct MemoryFile {
    data: Mutex<Vec<u8>>,
}

impl MemoryFile {
    /// A file with these contents.
    pub fn new(data: Vec<u8>) -> Self {
        MemoryFile {
            data: Mutex::new(data),
        }
    }

    /// A copy of the contents.
    pub fn contents(&self) -> Vec<u8> {
        lock(&self.data).clone()
    }
}

impl BackingFile for MemoryFile {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String> {
        let data = lock(&self.data);
        let start = usize::try_from(pos).unwrap_or(usize::MAX);
        let avail = data.get(start..).unwrap_or(&[]);
        let n = avail.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), avail.get(..n)) {
            to.copy_from_slice(from);
        }
        Ok(n)
    }

    fn write_at(&self, pos: u64, src: &[u8]) -> Result<(), String> {
        let start = usize::try_from(pos).map_err(|_| "write offset too large".to_owned())?;
        let end = start
            .checked_add(src.len())
            .ok_or_else(|| "write end overflows".to_owned())?;
        let mut data = lock(&self.data);
        // Room that cannot be had is an error, not an abort (a write changes nothing then).
        let more = end.saturating_sub(data.len());
        data.try_reserve(more)
            .map_err(|_| format!("no memory for a file of {end} bytes"))?;
        if data.len() < start {
            data.resize(start, 0);
        }
        // What lands inside the file is copied over it; the rest is appended (a log grows by
        // appends: filling the new room with zeros first cost as much as the copy).
        let inside = data.len().saturating_sub(start).min(src.len());
        let (over, appended) = src
            .split_at_checked(inside)
            .ok_or_else(|| "write out of range".to_owned())?;
        let at = start
            .checked_add(inside)
            .and_then(|over_end| data.get_mut(start..over_end))
            .ok_or_else(|| "write out of range".to_owned())?;
        at.copy_from_slice(over);
        data.extend_from_slice(appended);
        Ok(())
    }

    fn size(&self) -> Result<u64, String> {
        Ok(u64::try_from(lock(&self.data).len()).unwrap_or(u64::MAX))
    }

    fn truncate(&self, len: u64) -> Result<(), String> {
        let len = usize::try_from(len).map_err(|_| "truncate length too large".to_owned())?;
        let mut data = lock(&self.data);
        let more = len.saturating_sub(data.len());
        data.try_reserve(more)
            .map_err(|_| format!("no memory for a file of {len} bytes"))?;
        data.resize(len, 0);
        Ok(())
    }

    fn sync(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Files held in memory, by path.
#[derive(Default)]
pub struct MemoryStore {
    files: Mutex<HashMap<String, Arc<MemoryFile>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts a file.
    pub fn put(&self, path: &str, data: Vec<u8>) {
        lock(&self.files).insert(path.to_owned(), Arc::new(MemoryFile::new(data)));
    }

    /// A copy of a file's contents.
    pub fn contents(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.files).get(path).map(|f| f.contents())
    }
}

impl BackingStore for MemoryStore {
    fn in_memory(&self) -> bool {
        true
    }

    fn open(&self, path: &str, create: bool) -> Result<Option<Arc<dyn BackingFile>>, String> {
        let mut files = lock(&self.files);
        if let Some(f) = files.get(path) {
            let f: Arc<dyn BackingFile> = f.clone();
            return Ok(Some(f));
        }
        if !create {
            return Ok(None);
        }
        let f = Arc::new(MemoryFile::default());
        files.insert(path.to_owned(), f.clone());
        let f: Arc<dyn BackingFile> = f;
        Ok(Some(f))
    }

    fn remove(&self, path: &str) -> Result<(), String> {
        lock(&self.files).remove(path);
        Ok(())
    }
}

/// Real files on a native filesystem.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct FsStore;

#[cfg(not(target_arch = "wasm32"))]
struct FsFile(std::fs::File);

#[cfg(not(target_arch = "wasm32"))]
impl BackingFile for FsFile {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String> {
        use std::os::unix::fs::FileExt;
        let mut done = 0usize;
        while done < buf.len() {
            let rest = buf.get_mut(done..).unwrap_or_default();
            let at = pos.saturating_add(u64::try_from(done).unwrap_or(u64::MAX));
            match self.0.read_at(rest, at) {
                Ok(0) => break,
                Ok(n) => done = done.saturating_add(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(done)
    }

    fn write_at(&self, pos: u64, data: &[u8]) -> Result<(), String> {
        use std::os::unix::fs::FileExt;
        self.0.write_all_at(data, pos).map_err(|e| e.to_string())
    }

    fn write_parts_at(&self, pos: u64, parts: &[&[u8]]) -> Result<(), String> {
        write_joined(self, pos, parts)
    }

    fn size(&self) -> Result<u64, String> {
        self.0
            .metadata()
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    }

    fn truncate(&self, len: u64) -> Result<(), String> {
        self.0.set_len(len).map_err(|e| e.to_string())
    }

    fn sync(&self) -> Result<(), String> {
        self.0.sync_data().map_err(|e| e.to_string())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl BackingStore for FsStore {
    fn open(&self, path: &str, create: bool) -> Result<Option<Arc<dyn BackingFile>>, String> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(create);
        match options.open(path) {
            Ok(f) => {
                let f: Arc<dyn BackingFile> = Arc::new(FsFile(f));
                Ok(Some(f))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => Ok(None),
            Err(e) => Err(format!("{path}: {e}")),
        }
    }

    fn remove(&self, path: &str) -> Result<(), String> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{path}: {e}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memory file that records the length of each write.
    struct Counted(MemoryFile, Mutex<Vec<usize>>);

    impl BackingFile for Counted {
        fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize, String> {
            self.0.read_at(pos, buf)
        }
        fn write_at(&self, pos: u64, data: &[u8]) -> Result<(), String> {
            lock(&self.1).push(data.len());
            self.0.write_at(pos, data)
        }
        fn size(&self) -> Result<u64, String> {
            self.0.size()
        }
        fn truncate(&self, len: u64) -> Result<(), String> {
            self.0.truncate(len)
        }
        fn sync(&self) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn joined_parts_are_written_in_runs_as_the_parts_one_by_one() {
        let big = vec![7u8; JOINED_BYTES];
        let half = vec![9u8; JOINED_BYTES / 2 + 1];
        let cases: [(&[&[u8]], Vec<usize>); 5] = [
            (&[b"ab"], vec![2]),
            (&[b"ab", b"cde", b"f"], vec![6]),
            (&[b"ab", &big, b"c"], vec![2, JOINED_BYTES, 1]),
            (&[&half, &half, b"x"], vec![half.len(), half.len() + 1]),
            (&[], vec![]),
        ];
        for (parts, writes) in cases {
            let joined = Counted(MemoryFile::new(vec![0; 3]), Mutex::new(Vec::new()));
            let one_by_one = MemoryFile::new(vec![0; 3]);
            write_joined(&joined, 1, parts).unwrap();
            one_by_one.write_parts_at(1, parts).unwrap();
            assert_eq!(*lock(&joined.1), writes);
            assert_eq!(read_all(&joined).unwrap(), read_all(&one_by_one).unwrap());
        }
    }

    #[test]
    fn a_memory_file_is_written_over_appended_to_and_extended_with_zeros() {
        let f = MemoryFile::new(Vec::new());
        let read = |f: &MemoryFile| {
            let mut buf = vec![0xEE; f.size().unwrap() as usize];
            assert_eq!(f.read_at(0, &mut buf).unwrap(), buf.len());
            buf
        };
        f.write_at(0, b"abcd").unwrap();
        f.write_at(4, b"ef").unwrap(); // at the end
        f.write_at(1, b"XY").unwrap(); // inside
        f.write_at(5, b"Z12").unwrap(); // over the end
        assert_eq!(read(&f), b"aXYdeZ12");
        f.write_at(10, b"!").unwrap(); // past the end: zeros between
        assert_eq!(read(&f), b"aXYdeZ12\0\0!");
        f.write_at(3, b"").unwrap();
        assert_eq!(f.size().unwrap(), 11);
        assert!(f.write_at(u64::MAX, b"x").is_err());
        // Room that cannot be had: an error, and the file is as it was.
        assert!(f.write_at(u64::MAX / 2, b"x").is_err());
        assert_eq!(f.size().unwrap(), 11);
        assert!(f.truncate(u64::MAX / 2).is_err());
        f.truncate(2).unwrap();
        assert_eq!(read(&f), b"aX");
    }
}
