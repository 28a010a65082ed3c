//! `dump`: the changes or head entries of a space, as a table or as JSON lines. Read-only
//! (`Space::open_read_only`), so it works on a space another process has open.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use serde::Serialize;

use spacestore::{DeletedStatus, HeadEntry, IterOptions, Space, StorageChange};

use crate::examine::open_snapshot;
use crate::failure::{io_failure, require_space, Failure};

/// How to print raw change bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RawEncoding {
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct DumpArgs {
    /// The space directory.
    dir: PathBuf,
    /// Only this tree (its changes in order-id order, or its head entry with --heads).
    #[arg(long, value_name = "ID")]
    tree: Option<String>,
    /// Only changes with AddSeq > N (head entries: last AddSeq > N), as a consumer's cursor
    /// would ask. Without it, tree roots (AddSeq 0) are included.
    #[arg(long, value_name = "N", value_parser = add_seq_arg)]
    after_seq: Option<u64>,
    /// With --after-seq and without --tree or --heads: only the first K whole batches above
    /// the cursor (a batch is never split), as a consumer reading in bounded steps would.
    #[arg(long, value_name = "K", requires = "after_seq", conflicts_with_all = ["tree", "heads"])]
    limit: Option<usize>,
    /// Head entries instead of changes.
    #[arg(long)]
    heads: bool,
    /// JSON lines (one object per line) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also print each change's raw bytes.
    #[arg(long, value_name = "ENCODING")]
    raw: Option<RawEncoding>,
}

#[derive(Serialize)]
struct ChangeLine<'a> {
    tree: &'a str,
    id: &'a str,
    order_id: &'a str,
    add_seq: u64,
    size: u64,
    prev_ids: Vec<&'a str>,
    snapshot_id: &'a str,
    snapshot_counter: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_base64: Option<String>,
}

#[derive(Serialize)]
struct EntryLine<'a> {
    tree: &'a str,
    heads: Vec<&'a str>,
    common_snapshot: &'a str,
    deleted_status: &'static str,
    is_derived: bool,
    parent_id: Option<&'a str>,
    last_add_seq: Option<u64>,
}

/// An AddSeq given on the command line: a whole number from 0 to 2^64 - 1.
fn add_seq_arg(s: &str) -> Result<u64, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "{s:?} is not an AddSeq (a whole number from 0 to {})",
            u64::MAX
        )
    })
}

fn status(d: DeletedStatus) -> &'static str {
    match d {
        DeletedStatus::NotDeleted => "not_deleted",
        DeletedStatus::Queued => "queued",
        DeletedStatus::Deleted => "deleted",
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The changes to print, in the order to print them.
fn changes(space: &Space, args: &DumpArgs) -> Result<Vec<StorageChange>, Failure> {
    if let Some(id) = &args.tree {
        let tree = space.tree_storage(id)?;
        let changes = match args.after_seq {
            Some(seq) => tree.changes_after_add_seq(seq),
            None => tree.changes_after_order(""),
        };
        return Ok(changes.map(StorageChange::from).collect());
    }
    let mut out = Vec::new();
    if args.after_seq.is_none() {
        // The roots (AddSeq 0) of every tree with a head entry, by tree id.
        for entry in entries(space, None)? {
            if let Ok(tree) = space.tree_storage(&entry.id) {
                out.push(tree.root());
            }
        }
    }
    let after = args.after_seq.unwrap_or(0);
    match args.limit {
        Some(limit) => out.extend(
            space
                .batches_after(after, limit)
                .into_iter()
                .flat_map(|b| b.changes),
        ),
        None => out.extend(space.changes_after_add_seq(after).map(StorageChange::from)),
    }
    Ok(out)
}

/// Every head entry (deleted ones included), by id; with `after`, only those whose last
/// AddSeq is above it, by last AddSeq.
fn entries(space: &Space, after: Option<u64>) -> Result<Vec<HeadEntry>, Failure> {
    let opts = IterOptions::all().min_last_add_seq(after.unwrap_or(0));
    let mut all: Vec<HeadEntry> = space
        .head_storage()
        .entries(opts)
        .map(Arc::unwrap_or_clone)
        .collect();
    // By id; with --after-seq (0 too), by last AddSeq.
    if after.is_some() {
        all.sort_by(|a, b| (a.last_add_seq, &a.id).cmp(&(b.last_add_seq, &b.id)));
    }
    Ok(all)
}

/// Prints rows as a table: each column as wide as its widest cell; columns named in `right`
/// (numbers) aligned right.
pub fn table(
    out: &mut impl Write,
    header: &[&str],
    right: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let last = header.len() - 1;
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            // Padded by hand: `format!`'s width (`{cell:<w$}`) panics past 65,535, and a cell
            // can be as long as any id a peer sent.
            let pad = widths[i].saturating_sub(cell.chars().count());
            if right.contains(&header[i]) {
                s.extend(std::iter::repeat_n(' ', pad));
                s.push_str(cell);
            } else if i == last {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.extend(std::iter::repeat_n(' ', pad));
            }
            if i != last {
                s.push_str("  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &mut header.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

fn print_changes(
    out: &mut impl Write,
    list: &[StorageChange],
    args: &DumpArgs,
) -> std::io::Result<()> {
    let raw = |c: &StorageChange| match args.raw {
        Some(RawEncoding::Hex) => Some(hex(&c.raw_change)),
        Some(RawEncoding::Base64) => Some(base64(&c.raw_change)),
        None => None,
    };
    if args.json {
        for c in list {
            let raw = raw(c);
            let line = ChangeLine {
                tree: &c.tree_id,
                id: &c.id,
                order_id: &c.order_id,
                add_seq: c.add_seq,
                size: c.change_size,
                prev_ids: c.prev_ids.iter().map(|p| p.as_str()).collect(),
                snapshot_id: &c.snapshot_id,
                snapshot_counter: c.snapshot_counter,
                raw_hex: raw.clone().filter(|_| args.raw == Some(RawEncoding::Hex)),
                raw_base64: raw.filter(|_| args.raw == Some(RawEncoding::Base64)),
            };
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let mut header = vec!["ADD_SEQ", "TREE", "ID", "ORDER_ID", "SIZE"];
    if args.raw.is_some() {
        header.push("RAW");
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            let mut row = vec![
                c.add_seq.to_string(),
                c.tree_id.to_string(),
                c.id.to_string(),
                if c.order_id.is_empty() {
                    "\"\"".into()
                } else {
                    c.order_id.to_string()
                },
                c.change_size.to_string(),
            ];
            row.extend(raw(c));
            row
        })
        .collect();
    table(out, &header, &["ADD_SEQ", "SIZE"], &rows)
}

fn print_entries(out: &mut impl Write, list: &[HeadEntry], json: bool) -> std::io::Result<()> {
    if json {
        for e in list {
            let line = EntryLine {
                tree: &e.id,
                heads: e.heads.iter().map(|h| h.as_str()).collect(),
                common_snapshot: &e.common_snapshot,
                deleted_status: status(e.deleted_status),
                is_derived: e.is_derived,
                parent_id: e.parent_id.as_deref(),
                last_add_seq: e.last_add_seq,
            };
            serde_json::to_writer(&mut *out, &line)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let header = [
        "TREE",
        "LAST_ADD_SEQ",
        "STATUS",
        "DERIVED",
        "PARENT",
        "COMMON_SNAPSHOT",
        "HEADS",
    ];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.last_add_seq.map_or("-".into(), |s| s.to_string()),
                status(e.deleted_status).into(),
                if e.is_derived { "yes" } else { "no" }.into(),
                e.parent_id.as_deref().unwrap_or("-").into(),
                e.common_snapshot.to_string(),
                e.heads
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect();
    table(out, &header, &["LAST_ADD_SEQ"], &rows)
}

/// `spacestore dump DIR [--tree ID] [--after-seq N [--limit K]] [--heads] [--json] [--raw hex|base64]`.
pub fn dump(args: DumpArgs) -> Result<(), Failure> {
    require_space(&args.dir)?;
    if args.heads && args.raw.is_some() {
        return Err(Failure::Usage(
            "--raw prints change bytes; head entries have none (drop --heads or --raw)".into(),
        ));
    }
    let space = open_snapshot(&args.dir)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = if args.heads {
        let list = match &args.tree {
            Some(id) => {
                let e = space.head_storage().get_entry(id)?;
                if args
                    .after_seq
                    .is_some_and(|n| e.last_add_seq.is_none_or(|s| s <= n))
                {
                    Vec::new()
                } else {
                    vec![e]
                }
            }
            None => entries(&space, args.after_seq)?,
        };
        print_entries(&mut out, &list, args.json)
    } else {
        let list = changes(&space, &args)?;
        print_changes(&mut out, &list, &args)
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| io_failure("writing to stdout", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    /// A cell: any string, or a long run of one character (past `format!`'s width limit).
    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            (0usize..3, 65_530usize..70_000).prop_map(|(c, n)| std::iter::repeat_n(
                ['x', '\u{e9}', '\u{1F600}'][c],
                n
            )
            .collect()),
        ]
    }

    proptest! {
        /// Whatever a peer sent as an id (any length, any characters), the table prints every
        /// cell whole and never panics.
        #[test]
        fn the_table_prints_any_cells_whole(
            rows in proptest::collection::vec(proptest::collection::vec(cell(), 3), 0..4)
        ) {
            let mut out = Vec::new();
            table(&mut out, &["A", "N", "LAST"], &["N"], &rows).unwrap();
            let out = String::from_utf8(out).unwrap();
            for cell in rows.iter().flatten() {
                prop_assert!(out.contains(cell.trim_end()));
            }
        }
    }
}
