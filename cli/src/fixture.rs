//! `export` and `import`: a space as one file, a fixture (`Space::export`, `Space::import`),
//! for a test to check in and start from, or to move a space.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use spacestore::{Options, Space};

use crate::failure::{io_failure, require_space, Failure};
use crate::ui::{plural, say, size};

/// The name a fixture takes in a space directory: its only segment.
const SEGMENT: &str = "00000000000000000001.wal";

/// Writes the space in `dir` to `file` as a fixture. Reads the space as `Space::open_read_only`
/// does, so it works beside a process that has it open.
pub fn export(dir: &Path, file: &Path) -> Result<(), Failure> {
    require_space(dir)?;
    let space = Space::open_read_only(dir, Options::default())?;
    let out =
        File::create(file).map_err(|e| io_failure(&format!("creating {}", file.display()), &e))?;
    let mut out = BufWriter::new(out);
    let bytes = space.export(&mut out)?;
    let out = out
        .into_inner()
        .map_err(|e| io_failure("writing the fixture", e.error()))?;
    out.sync_all()
        .map_err(|e| io_failure("syncing the fixture", &e))?;
    say(format_args!(
        "exported {} to {}: {} ({}, {}, counter {})",
        dir.display(),
        file.display(),
        size(bytes),
        plural(space.tree_count() as u64, "tree"),
        plural(space.change_count() as u64, "change"),
        space.add_seq()
    ))
}

/// Makes `dir` (which must not exist, or be empty) a space holding what the fixture `file`
/// holds: checks the fixture as `Space::import` does, writes it as the directory's only
/// segment (durably), and opens it once, as `Space::open` does.
pub fn import(file: &Path, dir: &Path) -> Result<(), Failure> {
    let bytes =
        std::fs::read(file).map_err(|e| io_failure(&format!("reading {}", file.display()), &e))?;
    // Checked whole first: nothing is written for a fixture that is not one.
    Space::import(bytes.as_slice(), Options::default())?;
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => {
            return Err(Failure::Usage(format!(
                "{} is not empty: import makes a new space",
                dir.display()
            )))
        }
        Ok(false) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_failure(&format!("looking at {}", dir.display()), &e)),
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| io_failure(&format!("creating {}", dir.display()), &e))?;
    let segment = dir.join(SEGMENT);
    // The segment, its directory entry and the directory's own entry, durable before the
    // space is opened.
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    std::fs::write(&segment, &bytes)
        .and_then(|()| File::open(&segment)?.sync_all())
        .and_then(|()| File::open(dir)?.sync_all())
        .and_then(|()| parent.map_or(Ok(()), |p| File::open(p)?.sync_all()))
        .map_err(|e| io_failure(&format!("writing {}", segment.display()), &e))?;
    let opened = Space::open(dir, Options::default())?;
    say(format_args!(
        "imported {} into {}: {}, {}, counter {}",
        file.display(),
        dir.display(),
        plural(opened.tree_count() as u64, "tree"),
        plural(opened.change_count() as u64, "change"),
        opened.add_seq()
    ))
}
