//! Panic-free structural check of a SQLite file image, run BEFORE turso_core sees the bytes.
//! turso_core 0.8.3 can panic (index out of bounds, unwrap on Corrupt) on damaged b-tree pages,
//! and a panic is a trap that kills the wasm instance. This walks every b-tree reachable from
//! sqlite_schema, every overflow chain and the freelist, and checks the invariants the engine
//! relies on. Only `get`/checked arithmetic; every failure is an `Err(String)`.

use std::collections::HashSet;

type R<T> = std::result::Result<T, String>;

fn err<T>(m: impl Into<String>) -> R<T> {
    Err(m.into())
}

// Checked offset arithmetic: the operands come (directly or not) from untrusted bytes, so an
// overflow means a corrupt file, never a wrap or a panic.
fn add(a: usize, b: usize) -> R<usize> {
    a.checked_add(b)
        .ok_or_else(|| format!("offset overflow ({a} + {b})"))
}

fn sub(a: usize, b: usize) -> R<usize> {
    a.checked_sub(b)
        .ok_or_else(|| format!("offset underflow ({a} - {b})"))
}

fn mul(a: usize, b: usize) -> R<usize> {
    a.checked_mul(b)
        .ok_or_else(|| format!("offset overflow ({a} * {b})"))
}

struct Img<'a> {
    b: &'a [u8],
    page_size: usize,
    usable: usize,
    npages: u32,
    seen: HashSet<u32>,
}

fn u16_at(b: &[u8], at: usize) -> R<usize> {
    match b.get(at..at.saturating_add(2)) {
        Some([x, y]) => Ok(usize::from(u16::from_be_bytes([*x, *y]))),
        _ => err(format!("read u16 out of bounds at {at}")),
    }
}

fn u32_at(b: &[u8], at: usize) -> R<u32> {
    match b.get(at..at.saturating_add(4)) {
        Some([a, c, d, e]) => Ok(u32::from_be_bytes([*a, *c, *d, *e])),
        _ => err(format!("read u32 out of bounds at {at}")),
    }
}

/// SQLite varint at `at`, not reading at or past `end`. Returns (value, length).
fn varint(b: &[u8], at: usize, end: usize) -> R<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, len) in (1..=9usize).enumerate() {
        let pos = at.checked_add(i).ok_or("varint offset")?;
        if pos >= end {
            return err("varint runs past end");
        }
        let byte = *b.get(pos).ok_or("varint out of bounds")?;
        if len == 9 {
            return Ok(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok((v, len));
        }
    }
    err("bad varint")
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Table,
    Index,
}

impl<'a> Img<'a> {
    fn page(&self, pgno: u32) -> R<&'a [u8]> {
        if pgno == 0 || pgno > self.npages {
            return err(format!(
                "page number {pgno} out of range 1..={}",
                self.npages
            ));
        }
        let start = mul(sub(pgno as usize, 1)?, self.page_size)?;
        self.b
            .get(start..add(start, self.page_size)?)
            .ok_or_else(|| format!("page {pgno} beyond end of file"))
    }

    fn claim(&mut self, pgno: u32) -> R<()> {
        if !self.seen.insert(pgno) {
            return err(format!(
                "page {pgno} referenced twice (cycle or shared page)"
            ));
        }
        Ok(())
    }

    /// Local payload size for a cell with payload `p` (SQLite btreeParseCellAdjustSizeForOverflow).
    /// `usable` >= 480 (checked by `validate_image`), so none of these can fail in practice.
    fn local_size(&self, p: u64, kind: Kind) -> R<usize> {
        const BAD: &str = "usable page size too small";
        let u = self.usable as u64;
        let u12 = u.checked_sub(12).ok_or(BAD)?;
        let x = match kind {
            Kind::Table => u.checked_sub(35),
            Kind::Index => (u12.checked_mul(64).ok_or(BAD)? / 255).checked_sub(23),
        }
        .ok_or(BAD)?;
        if p <= x {
            return Ok(p as usize);
        }
        let m = (u12.checked_mul(32).ok_or(BAD)? / 255)
            .checked_sub(23)
            .ok_or(BAD)?;
        let k = p
            .checked_sub(m)
            .and_then(|d| d.checked_rem(u.checked_sub(4)?))
            .and_then(|r| m.checked_add(r))
            .ok_or(BAD)?;
        Ok(if k <= x { k as usize } else { m as usize })
    }

    /// Follows an overflow chain, returns the full payload.
    fn payload(&mut self, local: &[u8], total: u64, mut next: u32) -> R<Vec<u8>> {
        let total = usize::try_from(total).map_err(|_| "payload too large")?;
        if total > self.b.len().saturating_mul(2).saturating_add(1_000_000) {
            return err("payload larger than the file");
        }
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(local);
        while out.len() < total {
            if next == 0 {
                return err("overflow chain ends early");
            }
            self.claim(next)?;
            let pg = self.page(next)?;
            let nxt = u32_at(pg, 0)?;
            let take = sub(total, out.len())?.min(sub(self.usable, 4)?);
            out.extend_from_slice(pg.get(4..add(4, take)?).ok_or("overflow page slice")?);
            next = nxt;
        }
        if next != 0 {
            return err("overflow chain longer than payload");
        }
        Ok(out)
    }

    fn check_record(rec: &[u8]) -> R<Vec<(u64, std::ops::Range<usize>)>> {
        let (hdr, n) = varint(rec, 0, rec.len())?;
        let hdr = usize::try_from(hdr).map_err(|_| "record header size")?;
        if hdr < n || hdr > rec.len() {
            return err("record header size out of range");
        }
        let mut pos = n;
        let mut body = hdr;
        let mut cols = Vec::new();
        while pos < hdr {
            let (st, l) = varint(rec, pos, hdr)?;
            pos = add(pos, l)?;
            let size: usize = match st {
                0 | 8 | 9 => 0,
                1 => 1,
                2 => 2,
                3 => 3,
                4 => 4,
                5 => 6,
                6 | 7 => 8,
                10 | 11 => return err("reserved serial type"),
                s => usize::try_from(s.checked_sub(12).ok_or("serial type")? / 2)
                    .map_err(|_| "serial size")?,
            };
            let end = body.checked_add(size).ok_or("record size overflow")?;
            if end > rec.len() {
                return err("record body shorter than its header says");
            }
            if st >= 13
                && st % 2 == 1
                && std::str::from_utf8(rec.get(body..end).unwrap_or(&[])).is_err()
            {
                return err("TEXT value is not valid UTF-8");
            }
            cols.push((st, body..end));
            body = end;
        }
        Ok(cols)
    }

    /// Checks the b-tree rooted at `pgno`. Collects (for the schema tree) the leaf records.
    fn tree(
        &mut self,
        pgno: u32,
        want: Option<Kind>,
        depth: u32,
        records: &mut Option<Vec<Vec<u8>>>,
    ) -> R<Kind> {
        if depth > 40 {
            return err("b-tree too deep");
        }
        self.claim(pgno)?;
        let pg = self.page(pgno)?;
        let off = if pgno == 1 { 100 } else { 0 };
        let ptype = *pg.get(off).ok_or("page type")?;
        let (kind, leaf) = match ptype {
            13 => (Kind::Table, true),
            5 => (Kind::Table, false),
            10 => (Kind::Index, true),
            2 => (Kind::Index, false),
            t => return err(format!("page {pgno}: invalid b-tree page type {t}")),
        };
        if let Some(w) = want {
            if w != kind {
                return err(format!(
                    "page {pgno}: b-tree page kind differs from its parent"
                ));
            }
        }
        let hdr_len = if leaf { 8 } else { 12 };
        let first_free = u16_at(pg, add(off, 1)?)?;
        let ncells = u16_at(pg, add(off, 3)?)?;
        let mut content = u16_at(pg, add(off, 5)?)?;
        if content == 0 {
            content = 65536;
        }
        let frag = usize::from(*pg.get(add(off, 7)?).ok_or("frag byte")?);
        let ptrs = add(off, hdr_len)?;
        let ptr_end = add(ptrs, mul(2, ncells)?)?;
        if ptr_end > content || content > self.usable {
            return err(format!(
                "page {pgno}: cell pointer array / content area out of range"
            ));
        }
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(add(ncells, 8)?);
        let mut children: Vec<u32> = Vec::new();
        for i in 0..ncells {
            let p = u16_at(pg, add(ptrs, mul(2, i)?)?)?;
            if p < content || p >= self.usable {
                return err(format!("page {pgno}: cell pointer {p} out of range"));
            }
            let mut q = p;
            if !leaf {
                children.push(u32_at(pg, q)?);
                q = add(q, 4)?;
            }
            let end = if kind == Kind::Table && !leaf {
                let (_, l) = varint(pg, q, self.usable)?;
                add(q, l)?
            } else {
                let (plen, l) = varint(pg, q, self.usable)?;
                q = add(q, l)?;
                if kind == Kind::Table {
                    let (_, l2) = varint(pg, q, self.usable)?;
                    q = add(q, l2)?;
                }
                let local = self.local_size(plen, kind)?;
                let lend = q.checked_add(local).ok_or("cell size")?;
                let local_bytes = pg
                    .get(q..lend)
                    .filter(|_| lend <= self.usable)
                    .ok_or_else(|| format!("page {pgno}: cell {i} payload out of page"))?;
                let (cell_end, ovfl) = if (local as u64) < plen {
                    (add(lend, 4)?, u32_at(pg, lend)?)
                } else {
                    (lend, 0)
                };
                if cell_end > self.usable {
                    return err(format!("page {pgno}: cell {i} extends past usable area"));
                }
                let full = self.payload(local_bytes, plen, ovfl)?;
                let cols =
                    Self::check_record(&full).map_err(|e| format!("page {pgno} cell {i}: {e}"))?;
                let _ = cols;
                if let Some(recs) = records.as_mut() {
                    if kind == Kind::Table && leaf {
                        recs.push(full); // sqlite_schema rows, parsed by check_structure
                    }
                }
                cell_end
            };
            if end > self.usable {
                return err(format!("page {pgno}: cell {i} extends past usable area"));
            }
            spans.push((p, end));
        }
        // freeblocks
        let mut fb = first_free;
        let mut last = 0usize;
        let mut free_total = 0usize;
        let mut guard = 0;
        while fb != 0 {
            guard = add(guard, 1)?;
            if guard > self.page_size / 4 || fb < content || fb <= last || add(fb, 4)? > self.usable
            {
                return err(format!("page {pgno}: bad freeblock chain"));
            }
            let next = u16_at(pg, fb)?;
            let size = u16_at(pg, add(fb, 2)?)?;
            let fb_end = add(fb, size)?;
            if size < 4 || fb_end > self.usable || (next != 0 && next < fb_end) {
                return err(format!("page {pgno}: bad freeblock"));
            }
            spans.push((fb, fb_end));
            free_total = add(free_total, size)?;
            last = fb;
            fb = next;
        }
        spans.sort_unstable();
        let mut prev = content;
        let mut gaps = 0usize;
        for (s, e) in &spans {
            if *s < prev {
                return err(format!("page {pgno}: overlapping cells/freeblocks"));
            }
            gaps = add(gaps, sub(*s, prev)?)?;
            prev = *e;
        }
        gaps = add(gaps, self.usable.saturating_sub(prev))?;
        let _ = free_total;
        if gaps != frag {
            return err(format!(
                "page {pgno}: fragmentation {gaps} != header {frag}"
            ));
        }
        if !leaf {
            children.push(u32_at(pg, add(off, 8)?)?);
            let depth = depth.checked_add(1).ok_or("b-tree too deep")?;
            for c in children {
                self.tree(c, Some(kind), depth, records)?;
            }
        }
        Ok(kind)
    }

    fn freelist(&mut self) -> R<()> {
        let mut trunk = u32_at(self.b, 32)?;
        let total = u32_at(self.b, 36)?;
        let mut count: u64 = 0;
        while trunk != 0 {
            self.claim(trunk)?;
            count = count.checked_add(1).ok_or("freelist count overflow")?;
            let pg = self.page(trunk)?;
            let next = u32_at(pg, 0)?;
            let n = u32_at(pg, 4)? as usize;
            if n > sub(self.usable / 4, 2)? {
                return err("freelist trunk leaf count too large");
            }
            for i in 0..n {
                let leaf = u32_at(pg, add(8, mul(4, i)?)?)?;
                self.page(leaf)?;
                self.claim(leaf)?;
                count = count.checked_add(1).ok_or("freelist count overflow")?;
            }
            trunk = next;
        }
        if count != u64::from(total) {
            return err(format!("freelist count {count} != header {total}"));
        }
        Ok(())
    }
}

/// `page_size` must come from a header that `validate_image` already accepted.
pub fn check_structure(b: &[u8], page_size: usize) -> R<()> {
    let reserved = usize::from(*b.get(20).ok_or("header")?);
    let file_pages = b.len().checked_div(page_size).ok_or("page size 0")?;
    let file_pages = u32::try_from(file_pages).map_err(|_| "too many pages")?;
    let hdr_pages = u32_at(b, 28)?;
    let valid = u32_at(b, 24)? == u32_at(b, 92)? && hdr_pages != 0;
    let mut img = Img {
        b,
        page_size,
        usable: sub(page_size, reserved).map_err(|_| "reserved space larger than the page")?,
        npages: if valid {
            hdr_pages.min(file_pages)
        } else {
            file_pages
        },
        seen: HashSet::new(),
    };
    if u32_at(b, 52)? != 0 {
        // auto-vacuum: pointer-map pages exist; we do not validate them (never written by the
        // reference), refuse rather than hand unchecked structure to the engine.
        return err("auto_vacuum databases are not supported");
    }
    let mut recs = Some(Vec::new());
    if img.tree(1, Some(Kind::Table), 0, &mut recs)? != Kind::Table {
        return err("sqlite_schema is not a table b-tree");
    }
    for rec in recs.unwrap_or_default() {
        let cols = Img::check_record(&rec)?;
        // sqlite_schema(type, name, tbl_name, rootpage, sql)
        let Some((st, range)) = cols.get(3).cloned() else {
            return err("sqlite_schema row has too few columns");
        };
        let bytes = rec.get(range).ok_or("rootpage bytes")?;
        let root: i64 = match st {
            0 | 8 => 0,
            9 => 1,
            1..=6 => {
                let mut v: i64 = if bytes.first().is_some_and(|x| x & 0x80 != 0) {
                    -1
                } else {
                    0
                };
                for x in bytes {
                    v = (v << 8) | i64::from(*x);
                }
                v
            }
            _ => return err("sqlite_schema rootpage is not an integer"),
        };
        if root < 0 || root > i64::from(img.npages) {
            return err(format!("sqlite_schema rootpage {root} out of range"));
        }
        if root > 0 {
            img.tree(root as u32, None, 0, &mut None)?;
        }
    }
    img.freelist()?;
    Ok(())
}
