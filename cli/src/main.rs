//! The `spacestore` command: the demo (the crate's main job), and the tools of a space
//! directory: inspect, verify, repair, compact, dump, cursors, and a synthetic load.
//!
//! One function per subcommand (in the modules below); every failure is a [`Failure`] with its
//! own exit code and one line on stderr.

mod cursors;
mod demo;
mod dir;
mod dump;
mod examine;
mod failure;
mod fixture;
mod load;
mod maintain;
mod ui;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use failure::{Failure, EXIT_CODES};

/// The storage of an any-sync space (trees of changes, head entries and a space-global AddSeq
/// counter) in a directory made durable by a write-ahead log: a demo, and the tools to look
/// inside, check, repair, compact, dump and load such a directory.
#[derive(Parser, Debug)]
#[command(name = "spacestore", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job: writers add batches to many trees while a consumer follows the AddSeq
    /// cursor; then the space is closed, reopened, and the consumer carries on from its cursor.
    Demo(demo::DemoArgs),
    /// Segments, frames per kind, trees, changes, head entries, the AddSeq range and counter,
    /// bytes on disk, a torn tail. Changes nothing; works on a space another process has open.
    Inspect {
        /// The space directory (with --store: the store directory).
        dir: PathBuf,
        /// DIR is a store of many spaces: inspect each of them.
        #[arg(long)]
        store: bool,
    },
    /// Checks every frame and every cross-reference; exit 0 when clean, else names the segment
    /// and byte offset of the first problem. Changes nothing.
    Verify {
        /// The space directory (with --store: the store directory).
        dir: PathBuf,
        /// DIR is a store of many spaces: verify each of them (exit code: the first failure's).
        #[arg(long)]
        store: bool,
    },
    /// Keeps everything before the first bad frame and moves the rest to side files next to
    /// the segments (nothing is deleted). Asks first, unless --yes.
    Repair {
        /// The space directory.
        dir: PathBuf,
        /// Repair without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Runs a checkpoint (the live state to one new segment, the old segments removed) and
    /// prints the log's bytes before and after.
    Compact {
        /// The space directory.
        dir: PathBuf,
        /// Also replay the compacted log once, to print how long an open takes after (as long
        /// as an open: off by default).
        #[arg(long)]
        measure_replay: bool,
    },
    /// Prints changes (or head entries) as a table, or as JSON lines with --json.
    Dump(dump::DumpArgs),
    /// Lists the named cursors (consumers' positions in the feed) and how far each is behind:
    /// the batches the space holds above it. Changes nothing; works on a space another process
    /// has open.
    Cursors(cursors::CursorsArgs),
    /// Writes the space to FILE as one file, a fixture (`Space::export`): a test starts from it
    /// with `Space::import`, `import` makes a space of it again. Changes nothing; works on a
    /// space another process has open.
    Export {
        /// The space directory.
        dir: PathBuf,
        /// The fixture to write.
        file: PathBuf,
    },
    /// Makes DIR (new, or empty) a space holding what the fixture FILE holds (written by
    /// `export` or `Space::export`); a damaged or cut fixture is refused (exit 6).
    Import {
        /// The fixture to read.
        file: PathBuf,
        /// The new space directory.
        dir: PathBuf,
    },
    /// Writes a synthetic load and prints one line per acknowledged batch (tree and AddSeq),
    /// then a summary. On a terminal a progress bar stands in for the per-batch lines.
    Load(load::LoadArgs),
}

/// When writes are durable (see the README's durability table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DurabilityArg {
    /// A write returns once its frame is written to the OS: survives a process crash.
    Buffered,
    /// A write returns once its frame is fdatasynced: survives a power loss.
    Sync,
}

impl From<DurabilityArg> for spacestore::Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::Buffered => spacestore::Durability::Buffered,
            DurabilityArg::Sync => spacestore::Durability::Sync,
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Demo(args) => demo::demo(args),
        Command::Inspect { dir, store: false } => examine::inspect(&dir),
        Command::Inspect { dir, store: true } => examine::each_space(&dir, examine::inspect),
        Command::Verify { dir, store: false } => examine::verify(&dir),
        Command::Verify { dir, store: true } => examine::each_space(&dir, examine::verify),
        Command::Repair { dir, yes } => maintain::repair(&dir, yes),
        Command::Compact {
            dir,
            measure_replay,
        } => maintain::compact(&dir, measure_replay),
        Command::Dump(args) => dump::dump(args),
        Command::Cursors(args) => cursors::cursors(args),
        Command::Load(args) => load::load(args),
        Command::Export { dir, file } => fixture::export(&dir, &file),
        Command::Import { file, dir } => fixture::import(&file, &dir),
    }
}

/// Clap's error as one line: its first paragraph, joined, without the `error: ` prefix.
fn one_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let line = first.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    format!("{line} (see --help)")
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(
            std::io::stderr(),
            "spacestore: internal error (a bug in spacestore): {info}"
        );
        std::process::exit(1);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(2);
            }
            let _ = writeln!(std::io::stderr(), "spacestore: {}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message() {
                let _ = writeln!(std::io::stderr(), "spacestore: {message}");
            }
            ExitCode::from(failure.code())
        }
    }
}
