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

/// One row of `sqlite_schema(type, name, tbl_name, rootpage, sql)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRow {
    pub kind: String,
    pub name: String,
    pub tbl_name: String,
    pub root: i64,
    /// `None` for NULL (only an automatic index has no SQL).
    pub sql: Option<String>,
}

/// The text of a TEXT column (serial type odd and >= 13), else `None`.
fn text_col(rec: &[u8], col: Option<&(u64, std::ops::Range<usize>)>) -> Option<String> {
    let (st, range) = col?;
    if *st < 13 || st % 2 == 0 {
        return None;
    }
    let bytes = rec.get(range.clone())?;
    std::str::from_utf8(bytes).ok().map(str::to_owned)
}

/// `page_size` must come from a header that `validate_image` already accepted. Returns the
/// rows of `sqlite_schema`, each checked to have the shape the engine relies on: `type`,
/// `name` and `tbl_name` TEXT, `rootpage` an integer naming a valid b-tree (or 0), `sql` TEXT —
/// or NULL for an automatic index only. (turso_core 0.8.3 panics on a table, view or trigger
/// row without SQL, and takes an index row whose `sql` is not TEXT for an automatic index.)
pub fn check_structure(b: &[u8], page_size: usize) -> R<Vec<SchemaRow>> {
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
    // `Some(Kind::Table)`: page 1 must be a table b-tree page, or this fails.
    img.tree(1, Some(Kind::Table), 0, &mut recs)?;
    let mut rows = Vec::new();
    for rec in recs.unwrap_or_default() {
        let cols = Img::check_record(&rec)?;
        let text = |i: usize, what: &str| {
            text_col(&rec, cols.get(i)).ok_or_else(|| format!("sqlite_schema.{what} is not text"))
        };
        let (kind, name, tbl_name) = (text(0, "type")?, text(1, "name")?, text(2, "tbl_name")?);
        let sql = match cols.get(4) {
            Some((0, _)) => None,
            Some(_) => Some(text(4, "sql")?),
            None => return err("sqlite_schema row has too few columns"),
        };
        if sql.is_none() && kind != "index" {
            return err(format!("sqlite_schema {kind} {name:?} has no SQL"));
        }
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
        rows.push(SchemaRow {
            kind,
            name,
            tbl_name,
            root,
            sql,
        });
    }
    img.freelist()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: usize = 512;

    /// SQLite varint (values below 2^56).
    fn vi(mut v: u64) -> Vec<u8> {
        let mut groups = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            groups.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        groups.reverse();
        groups
    }

    fn txt(s: &[u8]) -> (u64, Vec<u8>) {
        (13 + 2 * s.len() as u64, s.to_vec())
    }

    fn one(n: u8) -> (u64, Vec<u8>) {
        (1, vec![n])
    }

    /// A record from (serial type, body) columns.
    fn rec(cols: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let types: Vec<u8> = cols.iter().flat_map(|(t, _)| vi(*t)).collect();
        let mut out = vi(types.len() as u64 + 1);
        assert_eq!(out.len(), 1);
        out.extend(types);
        for (_, b) in cols {
            out.extend(b);
        }
        out
    }

    fn table_leaf_cell(rowid: u64, record: &[u8]) -> Vec<u8> {
        let mut c = vi(record.len() as u64);
        c.extend(vi(rowid));
        c.extend(record);
        c
    }

    fn schema_row(root: (u64, Vec<u8>)) -> Vec<u8> {
        rec(&[
            txt(b"table"),
            txt(b"t"),
            txt(b"t"),
            root,
            txt(b"CREATE TABLE t(x)"),
        ])
    }

    /// A `npages`-page image (page size 512) with a valid header and an empty schema page.
    fn blank(npages: u32) -> Vec<u8> {
        let mut b = vec![0u8; npages as usize * PS];
        b[..16].copy_from_slice(b"SQLite format 3\0");
        b[16..18].copy_from_slice(&[2, 0]);
        b[18] = 1;
        b[19] = 1;
        b[21..24].copy_from_slice(&[64, 32, 32]);
        b[24..28].copy_from_slice(&1u32.to_be_bytes());
        b[28..32].copy_from_slice(&npages.to_be_bytes());
        b[92..96].copy_from_slice(&1u32.to_be_bytes());
        b[44..48].copy_from_slice(&4u32.to_be_bytes());
        b[56..60].copy_from_slice(&1u32.to_be_bytes());
        put_page(&mut b, 1, 13, &[], 0);
        b
    }

    fn usable(b: &[u8]) -> usize {
        PS - usize::from(b[20])
    }

    /// Writes a b-tree page: cells packed at the end of the usable area, no free space gaps.
    fn put_page(b: &mut [u8], pgno: u32, ptype: u8, cells: &[Vec<u8>], right: u32) {
        let base = (pgno as usize - 1) * PS;
        let off = if pgno == 1 { 100 } else { 0 };
        let interior = matches!(ptype, 2 | 5);
        let hdr = if interior { 12 } else { 8 };
        let mut content = usable(b);
        for (i, c) in cells.iter().enumerate() {
            content -= c.len();
            b[base + content..base + content + c.len()].copy_from_slice(c);
            let p = base + off + hdr + 2 * i;
            b[p..p + 2].copy_from_slice(&(content as u16).to_be_bytes());
        }
        let h = base + off;
        b[h] = ptype;
        b[h + 1..h + 3].copy_from_slice(&[0, 0]);
        b[h + 3..h + 5].copy_from_slice(&(cells.len() as u16).to_be_bytes());
        b[h + 5..h + 7].copy_from_slice(&(content as u16).to_be_bytes());
        b[h + 7] = 0;
        if interior {
            b[h + 8..h + 12].copy_from_slice(&right.to_be_bytes());
        }
    }

    fn put_u32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// Page 1 lists table `t` at page 2, a table leaf with one short row.
    fn two_pages() -> Vec<u8> {
        let mut b = blank(2);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        put_page(&mut b, 2, 13, &[table_leaf_cell(1, &rec(&[txt(b"hi")]))], 0);
        b
    }

    fn check(b: &[u8]) -> R<()> {
        check_structure(b, PS).map(|_| ())
    }

    fn refused(b: &[u8], needle: &str) {
        match check(b) {
            Err(m) => assert!(m.contains(needle), "{m:?} does not mention {needle:?}"),
            Ok(()) => panic!("accepted an image that should fail with {needle:?}"),
        }
    }

    #[test]
    fn readers_report_out_of_bounds() {
        assert_eq!(u16_at(&[1, 2], 0).unwrap(), 0x0102);
        assert!(u16_at(&[1, 2], 1)
            .unwrap_err()
            .contains("u16 out of bounds at 1"));
        assert_eq!(u32_at(&[0, 0, 1, 0], 0).unwrap(), 256);
        assert!(u32_at(&[0, 0, 1], 0)
            .unwrap_err()
            .contains("u32 out of bounds"));
    }

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x05], 0, 1).unwrap(), (5, 1));
        assert_eq!(varint(&[0x81, 0x00], 0, 2).unwrap(), (128, 2));
        // The ninth byte counts all 8 bits.
        let nine = [0xff; 9];
        assert_eq!(varint(&nine, 0, 9).unwrap(), (u64::MAX, 9));
        assert_eq!(
            varint(&[0x81, 0x00], 0, 1).unwrap_err(),
            "varint runs past end"
        );
        assert_eq!(varint(&[0x81], 0, 5).unwrap_err(), "varint out of bounds");
    }

    #[test]
    fn records_check_serial_types_and_utf8() {
        let cols = Img::check_record(&rec(&[
            (0, vec![]),
            (1, vec![1]),
            (2, vec![0; 2]),
            (3, vec![0; 3]),
            (4, vec![0; 4]),
            (5, vec![0; 6]),
            (6, vec![0; 8]),
            (7, vec![0; 8]),
            (8, vec![]),
            (9, vec![]),
            (12, vec![]),
            (14, vec![0xaa]),
            txt(b"ok"),
        ]))
        .unwrap();
        let sizes: Vec<usize> = cols.iter().map(|(_, r)| r.len()).collect();
        assert_eq!(sizes, [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 1, 2]);
        assert_eq!(
            Img::check_record(&rec(&[(10, vec![])])).unwrap_err(),
            "reserved serial type"
        );
        assert_eq!(
            Img::check_record(&rec(&[(11, vec![])])).unwrap_err(),
            "reserved serial type"
        );
        assert_eq!(
            Img::check_record(&rec(&[txt(&[0xff, 0xfe])])).unwrap_err(),
            "TEXT value is not valid UTF-8"
        );
        // A BLOB may hold any bytes.
        assert!(Img::check_record(&rec(&[(16, vec![0xff, 0xfe])])).is_ok());
        assert_eq!(
            Img::check_record(&[5, 1]).unwrap_err(),
            "record header size out of range"
        );
        assert_eq!(
            Img::check_record(&[2, 4, 0]).unwrap_err(),
            "record body shorter than its header says"
        );
    }

    #[test]
    fn a_well_formed_image_passes() {
        check(&blank(1)).unwrap();
        check(&two_pages()).unwrap();
    }

    #[test]
    fn auto_vacuum_is_refused() {
        let mut b = two_pages();
        put_u32(&mut b, 52, 2);
        refused(&b, "auto_vacuum");
    }

    #[test]
    fn bad_page_types_and_kinds() {
        let mut b = two_pages();
        b[PS] = 7;
        refused(&b, "page 2: invalid b-tree page type 7");

        // A table interior page whose child is an index leaf.
        let mut b = blank(3);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        put_page(&mut b, 2, 5, &[], 3);
        put_page(&mut b, 3, 10, &[], 0);
        refused(&b, "page 3: b-tree page kind differs from its parent");
        // With a table leaf as the child it is fine.
        put_page(&mut b, 3, 13, &[], 0);
        check(&b).unwrap();

        // An index as page 1.
        let mut b = blank(1);
        put_page(&mut b, 1, 10, &[], 0);
        refused(&b, "page 1: b-tree page kind differs from its parent");
    }

    #[test]
    fn deep_trees_are_refused() {
        let n = 44u32;
        let mut b = blank(n);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        for p in 2..n {
            put_page(&mut b, p, 5, &[], p + 1);
        }
        put_page(&mut b, n, 13, &[], 0);
        refused(&b, "b-tree too deep");
    }

    #[test]
    fn cell_and_content_area_damage() {
        // Content offset 0 means 65536: past a 512-byte page.
        let mut b = two_pages();
        b[PS + 5..PS + 7].copy_from_slice(&[0, 0]);
        refused(&b, "page 2: cell pointer array / content area out of range");

        // Two cell pointers at the same cell.
        let mut b = blank(2);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        let cell = table_leaf_cell(1, &rec(&[txt(b"hi")]));
        put_page(&mut b, 2, 13, &[cell.clone(), cell], 0);
        let first = [b[PS + 8], b[PS + 9]];
        b[PS + 10..PS + 12].copy_from_slice(&first);
        refused(&b, "page 2: overlapping cells/freeblocks");
    }

    #[test]
    fn freeblock_damage() {
        let mut b = two_pages();
        // A freeblock before the content area.
        b[PS + 1..PS + 3].copy_from_slice(&20u16.to_be_bytes());
        refused(&b, "page 2: bad freeblock chain");

        // A freeblock in the content area, but of size 2.
        let mut b = blank(2);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        put_page(&mut b, 2, 13, &[table_leaf_cell(1, &rec(&[txt(b"hi")]))], 0);
        // Move the content area down 8 bytes and put a freeblock there.
        let content = u16::from_be_bytes([b[PS + 5], b[PS + 6]]) - 8;
        b[PS + 5..PS + 7].copy_from_slice(&content.to_be_bytes());
        b[PS + 1..PS + 3].copy_from_slice(&content.to_be_bytes());
        let fb = PS + content as usize;
        b[fb..fb + 4].copy_from_slice(&[0, 0, 0, 8]);
        check(&b).unwrap();
        b[fb + 2..fb + 4].copy_from_slice(&[0, 2]);
        refused(&b, "page 2: bad freeblock");
    }

    /// A table row of 600 bytes on page 2: 92 bytes local, 508 on overflow page 3.
    fn overflowing() -> Vec<u8> {
        let body = vec![b'a'; 597];
        let record = rec(&[txt(&body)]);
        assert_eq!(record.len(), 600);
        let mut cell = vi(600);
        cell.extend(vi(1));
        cell.extend(&record[..92]);
        cell.extend(3u32.to_be_bytes());
        let mut b = blank(3);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        put_page(&mut b, 2, 13, &[cell], 0);
        let ov = 2 * PS;
        b[ov + 4..ov + 4 + 508].copy_from_slice(&record[92..]);
        b
    }

    #[test]
    fn overflow_chains() {
        let good = overflowing();
        check(&good).unwrap();

        // The cell's overflow pointer names its own page.
        let mut b = good.clone();
        put_u32(&mut b, PS + usable(&good) - 4, 2);
        refused(&b, "page 2 referenced twice");

        let mut b = good.clone();
        put_u32(&mut b, 2 * PS, 1); // one page more than the payload needs
        refused(&b, "overflow chain longer than payload");

        let mut b = good.clone();
        put_u32(&mut b, 2 * PS, 9);
        refused(&b, "overflow chain longer than payload");

        // The first overflow page number lies past the end.
        let mut b = good.clone();
        let ptr = PS + usable(&b) - 4;
        put_u32(&mut b, ptr, 9);
        refused(&b, "page number 9 out of range 1..=3");

        // A payload far larger than the file.
        let mut b = blank(2);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        let mut cell = vi(50_000_000);
        cell.extend(vi(1));
        let local = Img {
            b: &b,
            page_size: PS,
            usable: PS,
            npages: 2,
            seen: HashSet::new(),
        }
        .local_size(50_000_000, Kind::Table)
        .unwrap();
        cell.extend(vec![0u8; local]);
        cell.extend(0u32.to_be_bytes());
        put_page(&mut b, 2, 13, &[cell], 0);
        refused(&b, "payload larger than the file");
    }

    #[test]
    fn cells_reaching_into_reserved_space_are_refused() {
        // 32 reserved bytes: usable 480, and a 600-byte row keeps 124 bytes local.
        let mut b = blank(3);
        b[20] = 32;
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(one(2)))], 0);
        let mut cell = vi(600);
        cell.extend(vi(1));
        cell.extend(vec![b'a'; 124]);
        // Leave off the overflow pointer's last 2 bytes: they fall in the reserved area.
        cell.extend([0, 0]);
        put_page(&mut b, 2, 13, &[cell], 0);
        refused(&b, "page 2: cell 0 extends past usable area");
    }

    #[test]
    fn schema_rootpages() {
        let with_root = |root: (u64, Vec<u8>)| {
            let mut b = two_pages();
            put_page(&mut b, 1, 13, &[table_leaf_cell(1, &schema_row(root))], 0);
            b
        };
        // NULL and 0 name no b-tree (views, triggers).
        check(&with_root((0, vec![]))).unwrap();
        check(&with_root((8, vec![]))).unwrap();
        // Serial type 9 is the integer 1: page 1 again.
        refused(&with_root((9, vec![])), "page 1 referenced twice");
        refused(&with_root(one(0xff)), "rootpage -1 out of range");
        refused(
            &with_root((2, vec![0x01, 0x00])),
            "rootpage 256 out of range",
        );
        refused(&with_root(txt(b"2")), "rootpage is not an integer");

        let mut b = two_pages();
        let short = rec(&[txt(b"table"), txt(b"t"), txt(b"t")]);
        put_page(&mut b, 1, 13, &[table_leaf_cell(1, &short)], 0);
        refused(&b, "too few columns");
    }

    #[test]
    fn schema_rows_have_the_shape_the_engine_relies_on() {
        let with_row = |cols: &[(u64, Vec<u8>)]| {
            let mut b = two_pages();
            put_page(&mut b, 1, 13, &[table_leaf_cell(1, &rec(cols))], 0);
            b
        };
        let rows = check_structure(&two_pages(), PS).unwrap();
        assert_eq!(
            rows,
            [SchemaRow {
                kind: "table".into(),
                name: "t".into(),
                tbl_name: "t".into(),
                root: 2,
                sql: Some("CREATE TABLE t(x)".into()),
            }]
        );
        // An automatic index has no SQL; nothing else may lack it.
        let auto = [
            txt(b"index"),
            txt(b"sqlite_autoindex_t_1"),
            txt(b"t"),
            one(2),
            (0, vec![]),
        ];
        assert_eq!(check_structure(&with_row(&auto), PS).unwrap()[0].sql, None);
        let no_sql = [txt(b"table"), txt(b"t"), txt(b"t"), one(2), (0, vec![])];
        refused(&with_row(&no_sql), "sqlite_schema table \"t\" has no SQL");
        // A BLOB is not SQL (the engine would take the row for an automatic index).
        let blob = [
            txt(b"index"),
            txt(b"i"),
            txt(b"t"),
            one(2),
            (16, vec![b'x', b'y']),
        ];
        refused(&with_row(&blob), "sqlite_schema.sql is not text");
        let int_type = [
            one(1),
            txt(b"t"),
            txt(b"t"),
            one(2),
            txt(b"CREATE TABLE t(x)"),
        ];
        refused(&with_row(&int_type), "sqlite_schema.type is not text");
        let int_name = [
            txt(b"table"),
            txt(b"t"),
            (0, vec![]),
            one(2),
            txt(b"CREATE TABLE t(x)"),
        ];
        refused(&with_row(&int_name), "sqlite_schema.tbl_name is not text");
    }

    #[test]
    fn freelists() {
        // Page 3 is a freelist trunk holding leaf page 4.
        let mut b = two_pages();
        b.extend(vec![0u8; 2 * PS]);
        put_u32(&mut b, 28, 4);
        put_u32(&mut b, 32, 3);
        put_u32(&mut b, 36, 2);
        put_u32(&mut b, 2 * PS + 4, 1);
        put_u32(&mut b, 2 * PS + 8, 4);
        check(&b).unwrap();

        let mut c = b.clone();
        put_u32(&mut c, 36, 3);
        refused(&c, "freelist count 2 != header 3");

        let mut c = b.clone();
        put_u32(&mut c, 2 * PS + 8, 2); // the leaf is the table's page
        refused(&c, "page 2 referenced twice");

        let mut c = b.clone();
        put_u32(&mut c, 2 * PS + 8, 40);
        refused(&c, "page number 40 out of range");

        let mut c = b.clone();
        put_u32(&mut c, 2 * PS + 4, 1000);
        refused(&c, "freelist trunk leaf count too large");

        let mut c = b.clone();
        put_u32(&mut c, 32, 77);
        refused(&c, "page number 77 out of range 1..=4");

        let mut c = b;
        put_u32(&mut c, 2 * PS, 3); // the trunk lists itself as the next trunk
        refused(&c, "page 3 referenced twice");
    }
}
