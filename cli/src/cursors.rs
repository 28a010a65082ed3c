//! `cursors`: the named cursors of a space (consumers' positions in its feed), read-only.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

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
    /// The space's counter minus the position: at most this many batches are still to process.
    behind: u64,
}

/// `spacestore cursors DIR [--json]`.
pub fn cursors(args: CursorsArgs) -> Result<(), Failure> {
    require_space(&args.dir)?;
    let space = open_snapshot(&args.dir)?;
    let counter = space.add_seq();
    let list = space.cursors();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        list.iter().try_for_each(|(name, position)| {
            let line = CursorLine {
                name,
                position: *position,
                behind: counter.saturating_sub(*position),
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)
        })
    } else {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|(name, position)| {
                vec![
                    name.to_string(),
                    position.to_string(),
                    counter.saturating_sub(*position).to_string(),
                ]
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
                "{} cursor(s); AddSeq counter {counter}; incarnation {:032x}",
                list.len(),
                space.incarnation()
            )
        })
    };
    written
        .and_then(|()| out.flush())
        .map_err(|e| io_failure("writing to stdout", &e))
}
