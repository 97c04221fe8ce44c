//! A SQLite file written from rows, without a SQL engine: the reference's two tables and their
//! indexes, in the SQLite file format (<https://www.sqlite.org/fileformat2.html>), as one
//! self-contained image that `sqlite3`, the Python reference and the embedded engine open as-is.
//!
//! This is how a database on a host's SQLite (a Durable Object, which has no file to hand out)
//! is exported, and how stores of any backend become a file. The image is built bottom-up:
//! every b-tree is packed from its sorted entries, leaves first, then each level of interior
//! pages, so every leaf is at the same depth, as SQLite requires. Page size 4096, UTF-8,
//! rollback-journal mode, no free pages.

use std::cmp::Ordering;

use super::schema::{self, SCHEMA};
use super::SqlValue;
use crate::error::{Result, StateError};

const PAGE: usize = 4096;
/// `sqlite3` 3.45.0, the version number a writer leaves in the header (any is accepted).
const SQLITE_VERSION_NUMBER: u32 = 3_045_000;

fn too_big() -> StateError {
    StateError::TooLarge("the export does not fit in one SQLite file image".into())
}

fn add(a: usize, b: usize) -> Result<usize> {
    a.checked_add(b).ok_or_else(too_big)
}

fn sub(a: usize, b: usize) -> Result<usize> {
    a.checked_sub(b).ok_or_else(too_big)
}

fn u32_of(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| too_big())
}

fn u16_of(n: usize) -> Result<u16> {
    u16::try_from(n).map_err(|_| too_big())
}

// ------------------------------------------------------------------------------------ records

fn varint(out: &mut Vec<u8>, v: u64) {
    // SQLite's big-endian varint: 7 bits a byte, the 9th byte carrying 8 bits.
    if v > 0x00ff_ffff_ffff_ffff {
        let mut bytes = [0u8; 9];
        let mut rest = v;
        if let Some(last) = bytes.get_mut(8) {
            *last = (rest & 0xff) as u8;
        }
        rest >>= 8;
        for slot in bytes.iter_mut().take(8).rev() {
            *slot = ((rest & 0x7f) as u8) | 0x80;
            rest >>= 7;
        }
        out.extend_from_slice(&bytes);
        return;
    }
    let mut groups = [0u8; 8];
    let mut n = 0usize;
    let mut rest = v;
    loop {
        if let Some(slot) = groups.get_mut(n) {
            *slot = (rest & 0x7f) as u8;
        }
        n = n.saturating_add(1);
        rest >>= 7;
        if rest == 0 || n == groups.len() {
            break;
        }
    }
    for i in (0..n).rev() {
        let byte = groups.get(i).copied().unwrap_or(0);
        out.push(if i == 0 { byte } else { byte | 0x80 });
    }
}

fn varint_len(v: u64) -> usize {
    let mut buf = Vec::with_capacity(9);
    varint(&mut buf, v);
    buf.len()
}

/// The serial type and body of one value (schema format 4: 0 and 1 take no body).
fn serial(v: &SqlValue) -> Result<(u64, Vec<u8>)> {
    Ok(match v {
        SqlValue::Null => (0, Vec::new()),
        SqlValue::Integer(0) => (8, Vec::new()),
        SqlValue::Integer(1) => (9, Vec::new()),
        SqlValue::Integer(i) => {
            let i = *i;
            let bytes = i.to_be_bytes();
            let (kind, keep) = if i8::try_from(i).is_ok() {
                (1, 1)
            } else if i16::try_from(i).is_ok() {
                (2, 2)
            } else if (-(1i64 << 23)..(1i64 << 23)).contains(&i) {
                (3, 3)
            } else if i32::try_from(i).is_ok() {
                (4, 4)
            } else if (-(1i64 << 47)..(1i64 << 47)).contains(&i) {
                (5, 6)
            } else {
                (6, 8)
            };
            let body = bytes.get(sub(8, keep)?..).unwrap_or_default().to_vec();
            (kind, body)
        }
        SqlValue::Real(f) => (7, f.to_be_bytes().to_vec()),
        SqlValue::Text(s) => {
            let len = u64::try_from(s.len()).map_err(|_| too_big())?;
            (
                len.checked_mul(2)
                    .and_then(|n| n.checked_add(13))
                    .ok_or_else(too_big)?,
                s.as_bytes().to_vec(),
            )
        }
        SqlValue::Blob(b) => {
            let len = u64::try_from(b.len()).map_err(|_| too_big())?;
            (
                len.checked_mul(2)
                    .and_then(|n| n.checked_add(12))
                    .ok_or_else(too_big)?,
                b.clone(),
            )
        }
    })
}

/// A record: its header (size, serial types), then the values' bodies.
fn record(values: &[&SqlValue]) -> Result<Vec<u8>> {
    let mut types = Vec::new();
    let mut body = Vec::new();
    for v in values {
        let (t, b) = serial(v)?;
        varint(&mut types, t);
        body.extend_from_slice(&b);
    }
    // The header's size counts its own varint.
    let mut size = add(types.len(), 1)?;
    if varint_len(size as u64) > 1 {
        size = add(types.len(), varint_len(add(types.len(), 2)? as u64))?;
    }
    let mut out = Vec::with_capacity(add(size, body.len())?);
    varint(&mut out, size as u64);
    out.extend_from_slice(&types);
    out.extend_from_slice(&body);
    Ok(out)
}

/// SQLite's order of two values of an index key (BINARY collation for text).
fn compare(a: &SqlValue, b: &SqlValue) -> Ordering {
    fn rank(v: &SqlValue) -> u8 {
        match v {
            SqlValue::Null => 0,
            SqlValue::Integer(_) | SqlValue::Real(_) => 1,
            SqlValue::Text(_) => 2,
            SqlValue::Blob(_) => 3,
        }
    }
    match (a, b) {
        (SqlValue::Integer(x), SqlValue::Integer(y)) => x.cmp(y),
        (SqlValue::Text(x), SqlValue::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (SqlValue::Blob(x), SqlValue::Blob(y)) => x.cmp(y),
        #[allow(clippy::cast_precision_loss)]
        (SqlValue::Integer(x), SqlValue::Real(y)) => (*x as f64).total_cmp(y),
        #[allow(clippy::cast_precision_loss)]
        (SqlValue::Real(x), SqlValue::Integer(y)) => x.total_cmp(&(*y as f64)),
        (SqlValue::Real(x), SqlValue::Real(y)) => x.total_cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

// ------------------------------------------------------------------------------------ pages

/// The file being built: page 1 is reserved for the schema, the rest are appended.
struct File {
    pages: Vec<Vec<u8>>,
}

impl File {
    /// Appends a page; returns its number (1-based).
    fn push(&mut self, page: Vec<u8>) -> Result<u32> {
        self.pages.push(page);
        u32_of(self.pages.len())
    }

    /// Reserves the next page number for a page written later.
    fn reserve(&mut self) -> Result<u32> {
        self.push(Vec::new())
    }

    fn set(&mut self, number: u32, page: Vec<u8>) -> Result<()> {
        let index = usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(too_big)?;
        let slot = self.pages.get_mut(index).ok_or_else(too_big)?;
        *slot = page;
        Ok(())
    }
}

/// The most of a payload a cell keeps on its page of `usable` bytes: `table_leaf` for table
/// leaves, index pages otherwise (the file format's X, M and K). The writer and the reader use it
/// alike.
fn local_size(payload: usize, table_leaf: bool, usable: usize) -> Result<usize> {
    let max = if table_leaf {
        sub(usable, 35)?
    } else {
        sub(sub(usable, 12)?.saturating_mul(64) / 255, 23)?
    };
    if payload <= max {
        return Ok(payload);
    }
    let min = sub(sub(usable, 12)?.saturating_mul(32) / 255, 23)?;
    let k = add(
        min,
        sub(payload, min)?
            .checked_rem(sub(usable, 4)?)
            .ok_or_else(too_big)?,
    )?;
    Ok(if k <= max { k } else { min })
}

/// A cell's payload part: the local bytes, and the first overflow page (the rest written to
/// overflow pages of `file`).
fn spill(file: &mut File, payload: &[u8], table_leaf: bool) -> Result<Vec<u8>> {
    let local = local_size(payload.len(), table_leaf, PAGE)?;
    let (here, rest) = payload.split_at(local.min(payload.len()));
    let mut out = here.to_vec();
    if !rest.is_empty() {
        let per_page = sub(PAGE, 4)?;
        let chunks: Vec<&[u8]> = rest.chunks(per_page).collect();
        let first = file.reserve()?;
        let mut number = first;
        for (i, chunk) in chunks.iter().enumerate() {
            let next = if add(i, 1)? < chunks.len() {
                file.reserve()?
            } else {
                0
            };
            let mut page = vec![0u8; PAGE];
            put(&mut page, 0, &next.to_be_bytes())?;
            put(&mut page, 4, chunk)?;
            file.set(number, page)?;
            number = next;
        }
        out.extend_from_slice(&first.to_be_bytes());
    }
    Ok(out)
}

fn put(page: &mut [u8], at: usize, bytes: &[u8]) -> Result<()> {
    page.get_mut(at..add(at, bytes.len())?)
        .ok_or_else(too_big)?
        .copy_from_slice(bytes);
    Ok(())
}

/// The b-tree page kinds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    IndexInterior = 2,
    TableInterior = 5,
    IndexLeaf = 10,
    TableLeaf = 13,
}

/// Lays out one b-tree page: header at `offset` (100 on page 1), cell pointers, and the cells
/// packed at the end of the page.
fn page(kind: Kind, cells: &[Vec<u8>], right: Option<u32>, offset: usize) -> Result<Vec<u8>> {
    let mut page = vec![0u8; PAGE];
    let header = if right.is_some() { 12 } else { 8 };
    let mut end = PAGE;
    let mut pointers = add(offset, header)?;
    for cell in cells {
        end = sub(end, cell.len())?;
        put(&mut page, end, cell)?;
        put(&mut page, pointers, &u16_of(end)?.to_be_bytes())?;
        pointers = add(pointers, 2)?;
    }
    if pointers > end {
        return Err(too_big());
    }
    put(&mut page, offset, &[kind as u8])?;
    put(
        &mut page,
        add(offset, 3)?,
        &u16_of(cells.len())?.to_be_bytes(),
    )?;
    // The cell content area starts at `end` (0 means 65536, never the case at 4096).
    put(&mut page, add(offset, 5)?, &u16_of(end)?.to_be_bytes())?;
    if let Some(right) = right {
        put(&mut page, add(offset, 8)?, &right.to_be_bytes())?;
    }
    Ok(page)
}

/// Room for cells on a page: everything after the header (and page 1's file header).
fn room(interior: bool, offset: usize) -> Result<usize> {
    sub(PAGE, add(offset, if interior { 12 } else { 8 })?)
}

/// A table b-tree from rows in rowid order; returns its root page.
fn table_tree(file: &mut File, rows: &[(i64, Vec<u8>)], root_offset: usize) -> Result<u32> {
    let mut cells = Vec::with_capacity(rows.len());
    for (rowid, payload) in rows {
        let local = spill(file, payload, true)?;
        let mut cell = Vec::new();
        varint(&mut cell, payload.len() as u64);
        varint(&mut cell, u64::from_ne_bytes(rowid.to_ne_bytes()));
        cell.extend_from_slice(&local);
        cells.push((*rowid, cell));
    }
    // Leaves, each with as many cells as fit; each leaf's key is its last rowid.
    let mut level: Vec<(u32, i64)> = Vec::new();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let mut used = 0usize;
    let mut last = 0i64;
    let leaf_room = room(false, 0)?;
    for (rowid, cell) in cells {
        let need = add(cell.len(), 2)?;
        if !pending.is_empty() && add(used, need)? > leaf_room {
            let n = file.push(page(Kind::TableLeaf, &pending, None, 0)?)?;
            level.push((n, last));
            pending.clear();
            used = 0;
        }
        used = add(used, need)?;
        last = rowid;
        pending.push(cell);
    }
    if level.is_empty() {
        // Everything fits one page: the root is a leaf.
        let root = file.push(page(Kind::TableLeaf, &pending, None, root_offset)?)?;
        return Ok(root);
    }
    let n = file.push(page(Kind::TableLeaf, &pending, None, 0)?)?;
    level.push((n, last));
    // Interior levels: cells (left child, key), the last child as the right pointer.
    loop {
        let interior_room = room(true, root_offset)?;
        let total: usize = level.iter().map(|(_, key)| interior_key_size(*key)).sum();
        if total <= interior_room {
            let (cells, right) = interior_table_cells(&level)?;
            return file.push(page(Kind::TableInterior, &cells, Some(right), root_offset)?);
        }
        let room = room(true, 0)?;
        let mut groups: Vec<Vec<(u32, i64)>> = vec![Vec::new()];
        let mut used = 0usize;
        for child in &level {
            let need = interior_key_size(child.1);
            let full = groups.last().is_some_and(|g| g.len() >= 2) && add(used, need)? > room;
            if full {
                groups.push(Vec::new());
                used = 0;
            }
            used = add(used, need)?;
            if let Some(g) = groups.last_mut() {
                g.push(*child);
            }
        }
        // An interior page needs a cell besides its right child: a last group of one child
        // takes one from the group before it (which holds hundreds).
        if groups.last().is_some_and(|g| g.len() < 2) && groups.len() > 1 {
            let moved = groups
                .len()
                .checked_sub(2)
                .and_then(|i| groups.get_mut(i))
                .and_then(Vec::pop);
            if let (Some(moved), Some(last)) = (moved, groups.last_mut()) {
                last.insert(0, moved);
            }
        }
        let mut next: Vec<(u32, i64)> = Vec::new();
        for group in &groups {
            let key = group.last().map_or(0, |g| g.1);
            let (cells, right) = interior_table_cells(group)?;
            next.push((
                file.push(page(Kind::TableInterior, &cells, Some(right), 0)?)?,
                key,
            ));
        }
        level = next;
    }
}

/// The room a table interior cell takes: child pointer, key, cell pointer.
fn interior_key_size(key: i64) -> usize {
    varint_len(u64::from_ne_bytes(key.to_ne_bytes())).saturating_add(6)
}

/// The cells of a table interior page over `children` (all but the last) and its right child.
fn interior_table_cells(children: &[(u32, i64)]) -> Result<(Vec<Vec<u8>>, u32)> {
    let (last, rest) = children.split_last().ok_or_else(too_big)?;
    let cells = rest
        .iter()
        .map(|(child, key)| {
            let mut cell = child.to_be_bytes().to_vec();
            varint(&mut cell, u64::from_ne_bytes(key.to_ne_bytes()));
            cell
        })
        .collect();
    Ok((cells, last.0))
}

/// Splits items of the given sizes into runs of pages of `room` bytes, one item between each two
/// runs going up a level as their separator: runs `[a0, b0)`, separator `b0`, `[b0 + 1, b1)`,
/// ..., the last run ending at the end. Every run holds at least one item.
fn plan(sizes: &[usize], room: usize) -> Result<Vec<(usize, usize)>> {
    let n = sizes.len();
    let mut runs = Vec::new();
    let mut a = 0usize;
    loop {
        let mut b = a;
        let mut used = 0usize;
        while let Some(size) = sizes.get(b) {
            if add(used, *size)? > room {
                break;
            }
            used = add(used, *size)?;
            b = add(b, 1)?;
        }
        if b == n {
            if b == a && n > 0 {
                return Err(too_big());
            }
            runs.push((a, n));
            return Ok(runs);
        }
        if add(b, 1)? == n {
            // The separator would be the last item, leaving nothing for the last run: stop one
            // item earlier, so the last run holds the last item.
            b = sub(b, 1)?;
        }
        if b <= a {
            return Err(too_big());
        }
        runs.push((a, b));
        a = add(b, 1)?;
    }
}

/// An index b-tree from its sorted records; returns its root page. In an index b-tree an
/// interior cell's key is an entry of its own (not repeated in a leaf): bottom-up, the entry
/// between two pages goes up a level as their divider.
fn index_tree(file: &mut File, records: &[Vec<u8>], root_offset: usize) -> Result<u32> {
    // Each entry's payload part (local bytes, overflow pointer): the same on leaves and
    // interior pages of an index.
    let mut entries = Vec::with_capacity(records.len());
    for payload in records {
        let mut part = Vec::new();
        varint(&mut part, payload.len() as u64);
        part.extend_from_slice(&spill(file, payload, false)?);
        entries.push(part);
    }
    let leaf_sizes: Vec<usize> = entries.iter().map(|e| e.len().saturating_add(2)).collect();
    if leaf_sizes.iter().sum::<usize>() <= room(false, root_offset)? {
        return file.push(page(Kind::IndexLeaf, &entries, None, root_offset)?);
    }
    // Leaves, and the entries between them (dividers), as (child, divider) levels.
    let mut children: Vec<u32> = Vec::new();
    let mut dividers: Vec<Vec<u8>> = Vec::new();
    let runs = plan(&leaf_sizes, room(false, 0)?)?;
    for (k, (a, b)) in runs.iter().enumerate() {
        let cells = entries.get(*a..*b).ok_or_else(too_big)?;
        children.push(file.push(page(Kind::IndexLeaf, cells, None, 0)?)?);
        if add(k, 1)? < runs.len() {
            dividers.push(entries.get(*b).cloned().ok_or_else(too_big)?);
        }
    }
    // Interior levels over (children, dividers): children.len() == dividers.len() + 1.
    loop {
        let cell = |child: u32, divider: &[u8]| -> Vec<u8> {
            let mut c = child.to_be_bytes().to_vec();
            c.extend_from_slice(divider);
            c
        };
        let sizes: Vec<usize> = dividers.iter().map(|d| d.len().saturating_add(6)).collect();
        let last_child = *children.last().ok_or_else(too_big)?;
        if sizes.iter().sum::<usize>() <= room(true, root_offset)? {
            let cells: Vec<Vec<u8>> = children
                .iter()
                .zip(dividers.iter())
                .map(|(c, d)| cell(*c, d))
                .collect();
            return file.push(page(
                Kind::IndexInterior,
                &cells,
                Some(last_child),
                root_offset,
            )?);
        }
        let runs = plan(&sizes, room(true, 0)?)?;
        let mut next_children = Vec::with_capacity(runs.len());
        let mut next_dividers = Vec::with_capacity(runs.len());
        for (k, (a, b)) in runs.iter().enumerate() {
            let mut cells = Vec::with_capacity(b.saturating_sub(*a));
            for i in *a..*b {
                let child = *children.get(i).ok_or_else(too_big)?;
                cells.push(cell(child, dividers.get(i).ok_or_else(too_big)?));
            }
            // The page's right child is the child after its last cell.
            let right = *children.get(*b).ok_or_else(too_big)?;
            next_children.push(file.push(page(Kind::IndexInterior, &cells, Some(right), 0)?)?);
            if add(k, 1)? < runs.len() {
                next_dividers.push(dividers.get(*b).cloned().ok_or_else(too_big)?);
            }
        }
        children = next_children;
        dividers = next_dividers;
    }
}

// ------------------------------------------------------------------------------------ the file

/// The rows of the two tables, each in its table's column order, in the order they are to get
/// their rowids (the order the source stored them in).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImageRows {
    pub snapshots: Vec<Vec<SqlValue>>,
    pub usage_events: Vec<Vec<SqlValue>>,
}

/// An index: its name, its table, the columns of its key, and whether it is a primary key's.
struct IndexDef {
    name: &'static str,
    table: usize,
    key: &'static [usize],
    unique: bool,
}

/// The indexes of the reference's tables, in the order SQLite creates them: each table's
/// automatic index (its primary key) right after the table, then the two named ones.
const INDEXES: [IndexDef; 4] = [
    IndexDef {
        name: "sqlite_autoindex_snapshots_1",
        table: 0,
        key: &[0, 2], // (task_id, version)
        unique: true,
    },
    IndexDef {
        name: "sqlite_autoindex_usage_events_1",
        table: 1,
        key: &[0], // id
        unique: true,
    },
    IndexDef {
        name: "idx_usage_agent_timestamp",
        table: 1,
        key: &[2, 5], // (agent_id, timestamp)
        unique: false,
    },
    IndexDef {
        name: "idx_usage_consumer_timestamp",
        table: 1,
        key: &[3, 5], // (consumer_id, timestamp)
        unique: false,
    },
];

/// The `sqlite_schema.sql` SQLite keeps for a statement of [`SCHEMA`]: the text as written,
/// without `IF NOT EXISTS`.
fn stored_sql(ddl: &str) -> String {
    ddl.replacen(" IF NOT EXISTS", "", 1)
}

/// Writes the image. Every row must have its table's six columns; the primary keys (task and
/// version of a snapshot, id of an event) must be unique, as in any database of these tables.
pub fn write_image(rows: &ImageRows) -> Result<Vec<u8>> {
    let tables = [&rows.snapshots, &rows.usage_events];
    let names = [schema::SNAPSHOTS.name, schema::USAGE_EVENTS.name];
    for (table, name) in tables.iter().zip(names) {
        if table.iter().any(|r| r.len() != 6) {
            return Err(StateError::InvalidArgument(format!(
                "{name}: every row needs the table's 6 columns"
            )));
        }
        // Every column of the reference's tables is NOT NULL (the primary key of usage_events
        // too, in effect): a file with a NULL there fails integrity_check.
        if let Some(i) = table
            .iter()
            .position(|r| r.iter().any(|v| matches!(v, SqlValue::Null)))
        {
            return Err(StateError::InvalidArgument(format!(
                "{name}: row {} holds a NULL, and every column is NOT NULL",
                i.saturating_add(1)
            )));
        }
    }
    let mut file = File {
        pages: vec![Vec::new()],
    };
    // Tables: rowids 1..n in the given order.
    let mut table_roots = [0u32; 2];
    for (slot, table) in table_roots.iter_mut().zip(tables) {
        let mut records = Vec::with_capacity(table.len());
        for (i, row) in table.iter().enumerate() {
            let values: Vec<&SqlValue> = row.iter().collect();
            let rowid = i64::try_from(add(i, 1)?).map_err(|_| too_big())?;
            records.push((rowid, record(&values)?));
        }
        *slot = table_tree(&mut file, &records, 0)?;
    }
    // Indexes: the key columns and the rowid, sorted.
    let mut index_roots = [0u32; 4];
    for (slot, def) in index_roots.iter_mut().zip(INDEXES.iter()) {
        let table = tables.get(def.table).ok_or_else(too_big)?;
        let mut keys: Vec<Vec<SqlValue>> = Vec::with_capacity(table.len());
        for (i, row) in table.iter().enumerate() {
            let mut key: Vec<SqlValue> = def
                .key
                .iter()
                .map(|c| row.get(*c).cloned().unwrap_or(SqlValue::Null))
                .collect();
            key.push(SqlValue::Integer(
                i64::try_from(add(i, 1)?).map_err(|_| too_big())?,
            ));
            keys.push(key);
        }
        keys.sort_by(|a, b| {
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| compare(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        if def.unique {
            let width = def.key.len();
            for pair in keys.windows(2) {
                if let [a, b] = pair {
                    if a.get(..width) == b.get(..width) {
                        return Err(StateError::InvalidArgument(format!(
                            "{}: two rows share a primary key",
                            names.get(def.table).copied().unwrap_or("")
                        )));
                    }
                }
            }
        }
        let records = keys
            .iter()
            .map(|k| record(&k.iter().collect::<Vec<_>>()))
            .collect::<Result<Vec<_>>>()?;
        *slot = index_tree(&mut file, &records, 0)?;
    }
    // The schema table on page 1.
    let [snapshots_sql, events_sql, agent_sql, consumer_sql] = SCHEMA.map(stored_sql);
    let int = |n: u32| SqlValue::Integer(i64::from(n));
    let text = |s: &str| SqlValue::Text(s.to_owned());
    let [snap_root, events_root] = table_roots;
    let [snap_pk, events_pk, agent_idx, consumer_idx] = index_roots;
    let schema_rows: Vec<[SqlValue; 5]> = vec![
        [
            text("table"),
            text("snapshots"),
            text("snapshots"),
            int(snap_root),
            text(&snapshots_sql),
        ],
        [
            text("index"),
            text(INDEXES[0].name),
            text("snapshots"),
            int(snap_pk),
            SqlValue::Null,
        ],
        [
            text("table"),
            text("usage_events"),
            text("usage_events"),
            int(events_root),
            text(&events_sql),
        ],
        [
            text("index"),
            text(INDEXES[1].name),
            text("usage_events"),
            int(events_pk),
            SqlValue::Null,
        ],
        [
            text("index"),
            text(INDEXES[2].name),
            text("usage_events"),
            int(agent_idx),
            text(&agent_sql),
        ],
        [
            text("index"),
            text(INDEXES[3].name),
            text("usage_events"),
            int(consumer_idx),
            text(&consumer_sql),
        ],
    ];
    let mut schema_records = Vec::new();
    for (i, row) in schema_rows.iter().enumerate() {
        let values: Vec<&SqlValue> = row.iter().collect();
        let rowid = i64::try_from(add(i, 1)?).map_err(|_| too_big())?;
        schema_records.push((rowid, record(&values)?));
    }
    // The schema is small: it always fits page 1 (checked by `page`).
    let mut cells = Vec::new();
    for (rowid, payload) in &schema_records {
        let mut cell = Vec::new();
        varint(&mut cell, payload.len() as u64);
        varint(&mut cell, u64::from_ne_bytes(rowid.to_ne_bytes()));
        cell.extend_from_slice(payload);
        cells.push(cell);
    }
    let mut first = page(Kind::TableLeaf, &cells, None, 100)?;
    let pages = u32_of(file.pages.len())?;
    put(&mut first, 0, &header(pages)?)?;
    file.set(1, first)?;
    let mut out = Vec::with_capacity(file.pages.len().saturating_mul(PAGE));
    for p in &file.pages {
        if p.len() != PAGE {
            return Err(too_big());
        }
        out.extend_from_slice(p);
    }
    Ok(out)
}

/// The 100-byte file header.
fn header(pages: u32) -> Result<Vec<u8>> {
    let mut h = vec![0u8; 100];
    put(&mut h, 0, b"SQLite format 3\0")?;
    put(&mut h, 16, &u16_of(PAGE)?.to_be_bytes())?;
    put(&mut h, 18, &[1, 1, 0, 64, 32, 32])?; // rollback journal; no reserved bytes; fractions
    put(&mut h, 24, &1u32.to_be_bytes())?; // file change counter
    put(&mut h, 28, &pages.to_be_bytes())?; // database size in pages
    put(&mut h, 40, &1u32.to_be_bytes())?; // schema cookie
    put(&mut h, 44, &4u32.to_be_bytes())?; // schema format 4
    put(&mut h, 56, &1u32.to_be_bytes())?; // UTF-8
    put(&mut h, 92, &1u32.to_be_bytes())?; // version-valid-for = the change counter
    put(&mut h, 96, &SQLITE_VERSION_NUMBER.to_be_bytes())?;
    Ok(h)
}

// ------------------------------------------------------------------------------------ reading

fn corrupt(m: impl Into<String>) -> StateError {
    StateError::CorruptDatabase(format!("not a readable SQLite database: {}", m.into()))
}

/// Reads a varint at `at`; returns the value and the position after it.
fn read_varint(b: &[u8], at: usize) -> Result<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9usize {
        let pos = at.checked_add(i).ok_or_else(|| corrupt("varint"))?;
        let byte = *b.get(pos).ok_or_else(|| corrupt("varint past the page"))?;
        if i == 8 {
            return Ok(((v << 8) | u64::from(byte), pos.saturating_add(1)));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok((v, pos.saturating_add(1)));
        }
    }
    Err(corrupt("varint"))
}

fn be(b: &[u8], at: usize, n: usize) -> Result<u64> {
    let s = b
        .get(at..at.checked_add(n).ok_or_else(|| corrupt("offset"))?)
        .ok_or_else(|| corrupt("a field past the end of its page"))?;
    Ok(s.iter().fold(0u64, |v, x| (v << 8) | u64::from(*x)))
}

/// A file being read: its pages, the usable size of each, and a budget of pages to visit (so
/// that a cycle of page pointers ends in an error, not a loop).
struct Reader<'a> {
    bytes: &'a [u8],
    page_size: usize,
    usable: usize,
    visits: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self> {
        if bytes.get(..16) != Some(b"SQLite format 3\0".as_slice()) {
            return Err(corrupt("bad magic"));
        }
        let raw = be(bytes, 16, 2)?;
        let page_size = if raw == 1 {
            65536
        } else {
            usize::try_from(raw).map_err(|_| corrupt("page size"))?
        };
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(corrupt("invalid page size"));
        }
        let reserved = usize::from(*bytes.get(20).ok_or_else(|| corrupt("short header"))?);
        let usable = page_size
            .checked_sub(reserved)
            .filter(|u| *u >= 480)
            .ok_or_else(|| corrupt("invalid reserved space"))?;
        if be(bytes, 56, 4)? > 1 {
            return Err(corrupt("not UTF-8"));
        }
        let pages = bytes.len().checked_div(page_size).unwrap_or(0);
        if bytes.len().checked_rem(page_size) != Some(0) {
            return Err(corrupt(
                "the file length is not a multiple of the page size",
            ));
        }
        // The header's page count, where it is valid (the file's change counter matches).
        let counted = be(bytes, 28, 4)?;
        if counted != 0 && be(bytes, 24, 4)? == be(bytes, 92, 4)? && counted > pages as u64 {
            return Err(corrupt(
                "the file is shorter than its header says (truncated)",
            ));
        }
        Ok(Reader {
            bytes,
            page_size,
            usable,
            visits: pages.saturating_mul(2).saturating_add(16),
        })
    }

    fn page(&mut self, number: u64) -> Result<&'a [u8]> {
        self.visits = self
            .visits
            .checked_sub(1)
            .ok_or_else(|| corrupt("a page is reached twice (a cycle)"))?;
        let index = usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(|| corrupt(format!("page {number}")))?;
        let start = index
            .checked_mul(self.page_size)
            .ok_or_else(|| corrupt("page number"))?;
        let end = start
            .checked_add(self.page_size)
            .ok_or_else(|| corrupt("page number"))?;
        self.bytes
            .get(start..end)
            .ok_or_else(|| corrupt(format!("page {number} is past the end of the file")))
    }

    /// Every row of the table b-tree rooted at `root`, in rowid order, as raw records.
    fn table(&mut self, root: u64, out: &mut Vec<Vec<u8>>, depth: usize) -> Result<()> {
        if depth > 40 {
            return Err(corrupt("a b-tree too deep"));
        }
        let page = self.page(root)?;
        let header = if root == 1 { 100 } else { 0 };
        let kind = *page.get(header).ok_or_else(|| corrupt("page header"))?;
        let cells = usize::try_from(be(page, add(header, 3)?, 2)?).map_err(|_| corrupt("cells"))?;
        let pointers = add(header, if kind == 5 { 12 } else { 8 })?;
        for i in 0..cells {
            let at = add(pointers, i.checked_mul(2).ok_or_else(|| corrupt("cells"))?)?;
            let cell = usize::try_from(be(page, at, 2)?).map_err(|_| corrupt("cell"))?;
            match kind {
                13 => {
                    let (size, next) = read_varint(page, cell)?;
                    let (_rowid, start) = read_varint(page, next)?;
                    out.push(self.payload(page, start, size)?);
                }
                5 => {
                    let child = be(page, cell, 4)?;
                    self.table(child, out, depth.saturating_add(1))?;
                }
                other => {
                    return Err(corrupt(format!(
                        "page {root}: not a table b-tree page ({other})"
                    )))
                }
            }
        }
        if kind == 5 {
            let right = be(page, add(header, 8)?, 4)?;
            self.table(right, out, depth.saturating_add(1))?;
        }
        Ok(())
    }

    /// A table-leaf cell's payload of `size` bytes from `start`, overflow pages followed.
    fn payload(&mut self, page: &[u8], start: usize, size: u64) -> Result<Vec<u8>> {
        let size = usize::try_from(size).map_err(|_| corrupt("payload size"))?;
        if size > self.bytes.len() {
            return Err(corrupt("a payload larger than the file"));
        }
        let usable = self.usable;
        let local = local_size(size, true, usable).map_err(|_| corrupt("payload size"))?;
        let mut out = page
            .get(start..add(start, local)?)
            .ok_or_else(|| corrupt("a cell past the end of its page"))?
            .to_vec();
        if local < size {
            let mut next = be(page, add(start, local)?, 4)?;
            while out.len() < size {
                let overflow = self.page(next)?;
                next = be(overflow, 0, 4)?;
                let take = sub(size, out.len())?.min(sub(usable, 4)?);
                out.extend_from_slice(
                    overflow
                        .get(4..add(4, take)?)
                        .ok_or_else(|| corrupt("overflow page"))?,
                );
            }
        }
        Ok(out)
    }
}

/// The values of a record.
fn decode(record: &[u8]) -> Result<Vec<SqlValue>> {
    let (header, mut at) = read_varint(record, 0)?;
    let header = usize::try_from(header).map_err(|_| corrupt("record header"))?;
    let mut body = header;
    let mut values = Vec::new();
    while at < header {
        let (t, next) = read_varint(record, at)?;
        at = next;
        let len = match t {
            0 | 8 | 9 => 0,
            1..=4 => usize::try_from(t).unwrap_or(0),
            5 => 6,
            6 | 7 => 8,
            n if n >= 12 => {
                usize::try_from(n.saturating_sub(12) / 2).map_err(|_| corrupt("record"))?
            }
            _ => return Err(corrupt("a reserved serial type")),
        };
        let bytes = record
            .get(body..add(body, len)?)
            .ok_or_else(|| corrupt("a record shorter than its header says"))?;
        body = add(body, len)?;
        values.push(match t {
            0 => SqlValue::Null,
            8 => SqlValue::Integer(0),
            9 => SqlValue::Integer(1),
            7 => SqlValue::Real(f64::from_bits(be(bytes, 0, 8)?)),
            1..=6 => {
                // Sign-extend the big-endian integer of `len` bytes.
                let raw = be(bytes, 0, len)?;
                let shift =
                    64u32.saturating_sub(u32::try_from(len.saturating_mul(8)).unwrap_or(64));
                SqlValue::Integer(i64::from_ne_bytes((raw << shift).to_ne_bytes()) >> shift)
            }
            n if n % 2 == 0 => SqlValue::Blob(bytes.to_vec()),
            _ => SqlValue::Text(
                String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("text that is not UTF-8"))?,
            ),
        });
    }
    Ok(values)
}

/// The rows of the reference's two tables in a SQLite file (this module's, the engine's, the
/// reference's or `sqlite3`'s), in rowid order, each in the reference's column order. A table
/// that is missing has no rows; one with other columns is `SCHEMA_MISMATCH`; a damaged file is
/// `CORRUPT_DATABASE`. (The file's WAL, if any, is not read: give a checkpointed image, as
/// `exportBytes()` makes.)
pub fn read_image(bytes: &[u8]) -> Result<ImageRows> {
    let mut reader = Reader::new(bytes)?;
    let mut schema_rows = Vec::new();
    reader.table(1, &mut schema_rows, 0)?;
    let mut rows = ImageRows::default();
    for record in schema_rows {
        let values = decode(&record)?;
        let (Some(SqlValue::Text(kind)), Some(SqlValue::Text(name)), Some(SqlValue::Integer(root))) =
            (values.first(), values.get(1), values.get(3))
        else {
            continue;
        };
        if kind != "table" {
            continue;
        }
        let (table, target) = match name.as_str() {
            "snapshots" => (&schema::SNAPSHOTS, &mut rows.snapshots),
            "usage_events" => (&schema::USAGE_EVENTS, &mut rows.usage_events),
            _ => continue,
        };
        let sql = match values.get(4) {
            Some(SqlValue::Text(sql)) => sql.as_str(),
            _ => "",
        };
        // The columns in the order the file's CREATE TABLE lists them.
        let order = column_order(sql, table)?;
        let mut records = Vec::new();
        let root = u64::try_from(*root).map_err(|_| corrupt("root page"))?;
        reader.table(root, &mut records, 0)?;
        for record in records {
            let values = decode(&record)?;
            let mut row = vec![SqlValue::Null; table.columns.len()];
            for (from, to) in order.iter().enumerate() {
                if let (Some(v), Some(slot)) = (values.get(from), row.get_mut(*to)) {
                    *slot = v.clone();
                }
            }
            // A missing or NULL value in a NOT NULL column: the file breaks its own schema.
            if let Some(at) = row.iter().position(|v| matches!(v, SqlValue::Null)) {
                return Err(corrupt(format!(
                    "a row of {} has no value for {}",
                    table.name,
                    table.columns.get(at).copied().unwrap_or("a column")
                )));
            }
            target.push(row);
        }
    }
    Ok(rows)
}

/// For each column of `sql` (a CREATE TABLE of `table`), its place in the reference's order.
fn column_order(sql: &str, table: &schema::Table) -> Result<Vec<usize>> {
    let open = sql
        .find('(')
        .ok_or_else(|| corrupt(format!("{}: no column list", table.name)))?;
    let list = sql.get(add(open, 1)?..).unwrap_or_default();
    let mut order = Vec::new();
    for part in list.split(',') {
        let word = part
            .trim_start()
            .split(|c: char| c.is_whitespace() || c == ')')
            .next()
            .unwrap_or_default()
            .trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']');
        // The column definitions end where the table constraints begin.
        if ["PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(word))
        {
            break;
        }
        if let Some(at) = table
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(word))
        {
            order.push(at);
        }
    }
    let mut sorted = order.clone();
    sorted.sort_unstable();
    if sorted != (0..table.columns.len()).collect::<Vec<_>>() {
        return Err(StateError::SchemaMismatch(format!(
            "table {} does not have the columns {:?}",
            table.name, table.columns
        )));
    }
    Ok(order)
}

/// One file holding the rows of every given image (their snapshots, then their usage events,
/// image after image): the state of several Durable Objects as one database. Two images with a
/// snapshot of the same task and version, or an event of the same id, are `INVALID_ARGUMENT`.
pub fn merge_images(images: &[&[u8]]) -> Result<Vec<u8>> {
    let parts: Vec<(&[u8], &str)> = images.iter().map(|image| (*image, "")).collect();
    merge_images_prefixed(&parts)
}

/// [`merge_images`] of `(image, prefix)` pairs: every task id of an image (its snapshots' and
/// its usage events') gets the image's prefix in front, so that images of different owners
/// (tenants, say) holding the same task ids merge without colliding.
pub fn merge_images_prefixed(parts: &[(&[u8], &str)]) -> Result<Vec<u8>> {
    let mut all = ImageRows::default();
    for (image, prefix) in parts {
        let mut rows = read_image(image)?;
        if !prefix.is_empty() {
            prefix_task_ids(&mut rows.snapshots, SNAPSHOT_TASK_COLUMN, prefix);
            prefix_task_ids(&mut rows.usage_events, EVENT_TASK_COLUMN, prefix);
        }
        all.snapshots.extend(rows.snapshots);
        all.usage_events.extend(rows.usage_events);
    }
    write_image(&all)
}

/// The `task_id` column of a `snapshots` row and of a `usage_events` row.
const SNAPSHOT_TASK_COLUMN: usize = 0;
const EVENT_TASK_COLUMN: usize = 1;

fn prefix_task_ids(rows: &mut [Vec<SqlValue>], column: usize, prefix: &str) {
    for row in rows {
        if let Some(SqlValue::Text(task_id)) = row.get_mut(column) {
            task_id.insert_str(0, prefix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SqlValue {
        SqlValue::Text(s.to_owned())
    }

    fn small_image() -> Vec<u8> {
        let snapshot = vec![
            t("task"),
            t("snap_1"),
            SqlValue::Integer(1),
            t(r#"{"a":1}"#),
            SqlValue::Integer(0),
            t("2026-01-01T00:00:00+00:00"),
        ];
        write_image(&ImageRows {
            snapshots: vec![snapshot],
            usage_events: vec![],
        })
        .unwrap()
    }

    fn code(r: Result<ImageRows>) -> &'static str {
        r.unwrap_err().code()
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        for v in [
            0u64,
            127,
            128,
            16_383,
            16_384,
            (1 << 56) - 1,
            1 << 56,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v));
            assert_eq!(read_varint(&buf, 0).unwrap(), (v, buf.len()), "{v}");
        }
        assert_eq!(
            read_varint(&[0x80, 0x80], 0).unwrap_err().code(),
            "CORRUPT_DATABASE"
        );
    }

    #[test]
    fn records_hold_every_kind_of_value() {
        let values = [
            SqlValue::Null,
            SqlValue::Integer(0),
            SqlValue::Integer(1),
            SqlValue::Integer(-1),
            SqlValue::Integer(300),
            SqlValue::Integer(-70_000),
            SqlValue::Integer(1 << 40),
            SqlValue::Integer(i64::MIN),
            SqlValue::Real(-2.5),
            t("é"),
            SqlValue::Blob(vec![0, 255]),
        ];
        let refs: Vec<&SqlValue> = values.iter().collect();
        assert_eq!(decode(&record(&refs).unwrap()).unwrap(), values);
        // A record whose header promises more than it holds; reserved serial types; text that
        // is not UTF-8.
        assert!(decode(&[2, 0x0f]).is_err());
        assert!(decode(&[2, 10]).is_err());
        assert!(decode(&[2, 15, 0xff]).is_err());
    }

    #[test]
    fn values_sort_as_sqlite_sorts_them() {
        use Ordering::{Equal, Greater, Less};
        let cases = [
            (SqlValue::Null, SqlValue::Integer(0), Less),
            (SqlValue::Integer(2), SqlValue::Real(1.5), Greater),
            (SqlValue::Real(1.0), SqlValue::Integer(1), Equal),
            (SqlValue::Real(1.0), SqlValue::Real(2.0), Less),
            (SqlValue::Integer(9), t("0"), Less),
            (t("b"), t("a"), Greater),
            (t("z"), SqlValue::Blob(vec![0]), Less),
            (SqlValue::Blob(vec![1]), SqlValue::Blob(vec![0]), Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(&a, &b), want, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn the_reader_refuses_each_broken_header_field() {
        let good = small_image();
        assert!(read_image(&good).is_ok());
        let with = |at: usize, bytes: &[u8]| {
            let mut b = good.clone();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            b
        };
        assert_eq!(code(read_image(b"")), "CORRUPT_DATABASE");
        assert_eq!(
            code(read_image(&with(0, b"SQLite format 4"))),
            "CORRUPT_DATABASE"
        );
        assert_eq!(code(read_image(&with(16, &[0, 3]))), "CORRUPT_DATABASE");

        // The same image with page size 512 declared: reserved 40 leaves 472 usable bytes.
        assert_eq!(
            code(read_image(&with(16, &[2, 0, 1, 1, 40]))),
            "CORRUPT_DATABASE"
        );
        assert_eq!(
            code(read_image(&with(56, &[0, 0, 0, 2]))),
            "CORRUPT_DATABASE"
        );
        assert_eq!(
            code(read_image(&good[..good.len() - 1])),
            "CORRUPT_DATABASE"
        );
        // Page size 1 means 65536: this 4096-byte-page file is then shorter than one page.
        assert_eq!(code(read_image(&with(16, &[0, 1]))), "CORRUPT_DATABASE");
    }

    #[test]
    fn the_reader_refuses_broken_pages_and_schemas() {
        let good = small_image();
        // Page 1 is the schema (a table leaf at offset 100): make it an index page.
        let mut bad = good.clone();
        bad[100] = 10;
        assert_eq!(code(read_image(&bad)), "CORRUPT_DATABASE");
        // An interior page whose right child is itself: a cycle, not a loop.
        let mut cycle = good.clone();
        cycle[100] = 5;
        cycle[103..105].copy_from_slice(&[0, 0]);
        cycle[108..112].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(code(read_image(&cycle)), "CORRUPT_DATABASE");
        // A child page past the end of the file.
        let mut past = cycle.clone();
        past[108..112].copy_from_slice(&999u32.to_be_bytes());
        assert_eq!(code(read_image(&past)), "CORRUPT_DATABASE");
        past[108..112].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(code(read_image(&past)), "CORRUPT_DATABASE");
    }

    #[test]
    fn columns_are_found_by_name_and_other_tables_are_refused() {
        let order = column_order(
            r#"CREATE TABLE "snapshots" ("id" TEXT, [task_id] TEXT, `version` INT, data TEXT, checkpoint INT, created_at TEXT, PRIMARY KEY (task_id, version))"#,
            &schema::SNAPSHOTS,
        )
        .unwrap();
        assert_eq!(order, vec![1, 0, 2, 3, 4, 5]);
        assert_eq!(
            column_order("CREATE TABLE snapshots", &schema::SNAPSHOTS)
                .unwrap_err()
                .code(),
            "CORRUPT_DATABASE"
        );
        assert_eq!(
            column_order(
                "CREATE TABLE snapshots (task_id TEXT, body TEXT)",
                &schema::SNAPSHOTS
            )
            .unwrap_err()
            .code(),
            "SCHEMA_MISMATCH"
        );
    }
}
