//! `cursors`: the named cursors of a space (consumers' positions in its feed), read-only.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use spacestore::Space;

use crate::dump::table;
use crate::examine::open_snapshot;
use crate::failure::{io_failure, require_space, Failure};

#[derive(Args, Debug)]
pub struct CursorsArgs {
    /// The space directory.
    dir: PathBuf,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct CursorLine<'a> {
    name: &'a str,
    position: u64,
    /// How many batches the space holds above the position: what the consumer has still to
    /// process (0: it has seen every batch).
    behind: u64,
    /// The AddSeq of the last batch the space holds (`Space::last_add_seq`).
    last_add_seq: u64,
    /// The AddSeq counter (`Space::add_seq`): every seq at or below it may have been handed
    /// out, the next batch's is above it. After a crash, the log's reservation, up to
    /// `reserve_ahead` above `last_add_seq`: no measure of how far a cursor is behind.
    counter: u64,
}

/// How many batches `space` holds above `position` (read in place, a change at a time).
fn batches_above(space: &Space, position: u64) -> u64 {
    let mut batches = 0;
    let mut last = position;
    for view in space.changes_after_add_seq(position) {
        if view.add_seq() != last {
            last = view.add_seq();
            batches += 1;
        }
    }
    batches
}

/// `spacestore cursors DIR [--json]`.
pub fn cursors(args: CursorsArgs) -> Result<(), Failure> {
    require_space(&args.dir)?;
    let space = open_snapshot(&args.dir)?;
    let last_add_seq = space.last_add_seq();
    let counter = space.add_seq();
    let list: Vec<(_, u64, u64)> = space
        .cursors()
        .into_iter()
        .map(|(name, position)| {
            let behind = batches_above(&space, position);
            (name, position, behind)
        })
        .collect();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        list.iter().try_for_each(|(name, position, behind)| {
            let line = CursorLine {
                name,
                position: *position,
                behind: *behind,
                last_add_seq,
                counter,
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)
        })
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|(name, position, behind)| {
                vec![name.to_string(), position.to_string(), behind.to_string()]
            })
            .collect();
        table(
            &mut out,
            &["CURSOR", "POSITION", "BEHIND"],
            &["POSITION", "BEHIND"],
            &rows,
        )
        .and_then(|()| {
            writeln!(
                out,
                "{} cursor(s), BEHIND in batches; last batch at AddSeq {last_add_seq}; AddSeq \
                 counter {counter} (the next batch's seq is above it); incarnation {:032x}",
                list.len(),
                space.incarnation()
            )
        })
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| io_failure("writing to stdout", &e))
}
