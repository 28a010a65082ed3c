//! `demo`: the crate's main job on an embedded default. Writers add batches to many trees of a
//! space in a data directory while a consumer follows them with a subscription from its named
//! cursor (kept in the space) and acknowledges what it processed; then the space is closed and
//! reopened, and the consumer carries on from the stored cursor. A second `demo` run on the same
//! directory carries on from it too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use spacestore::{Cursor, Error, Id, Options, Space, StorageChange, TreeRoot, TreeStorage};

use crate::failure::{space_or_new, Failure};
use crate::ui::{plural, rate, say, size, took, Progress};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// The data directory (created when missing; run the demo again to replay it).
    #[arg(default_value = "spacestore-data")]
    dir: PathBuf,
    /// Trees to write to.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    trees: u32,
    /// Writer threads (each owns a share of the trees).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    writers: u32,
    /// Batches before the restart (half as many after it).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(2..))]
    batches: u64,
    /// Changes per batch.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
}

/// The consumer's named cursor.
const CONSUMER: &str = "demo-consumer";

/// The consumer acknowledges its position on its cursor every this many batches (and at the
/// end of a round).
const ACK_EVERY: u64 = 1_000;

/// What one round of writing and following did.
struct Round {
    batches: u64,
    elapsed: Duration,
    from: u64,
    to: u64,
    /// Changes written by this round's writers.
    written: u64,
    /// Batches the subscription delivered (the backlog above the cursor included).
    wakes: u64,
    /// Batches that were above the cursor before the round began.
    backlog: u64,
    /// A problem the consumer saw (a batch in parts, out of order, or missing), if any.
    problem: Option<String>,
}

fn open_tree(space: &Space, id: &str) -> Result<TreeStorage, Error> {
    match space.tree_storage(id) {
        Err(Error::UnknownTree(_)) => {
            space.create_tree_storage(TreeRoot::new(id, format!("root of {id}").into_bytes()))
        }
        other => other,
    }
}

/// One writer: `count` batches round-robin over its trees, each batch a chain of changes on
/// top of the tree's head, the last one becoming the new head.
fn writer(trees: &[&TreeStorage], w: u32, count: u64, run: u64, size: u32) -> Result<(), Error> {
    let mut heads: HashMap<Id, Id> = HashMap::new();
    for t in trees {
        let head = t.heads()?.pop().unwrap_or_else(|| t.id().clone());
        heads.insert(t.id().clone(), head);
    }
    for k in 0..count {
        let tree = trees[(k % trees.len() as u64) as usize];
        let mut prev = heads[tree.id()].clone();
        let changes: Vec<StorageChange> = (0..size)
            .map(|i| {
                let id = Id::from(format!("{}/{run}.{w}.{k}.{i}", tree.id()));
                let raw = format!("{{\"set\":\"key-{k}\",\"value\":{i},\"writer\":{w}}}");
                let change = StorageChange::new(
                    id.clone(),
                    format!("{run:012}.{w:03}.{k:09}.{i:04}"),
                    raw.into_bytes(),
                )
                .with_prev_ids([std::mem::replace(&mut prev, id)]);
                change
            })
            .collect();
        tree.add_all(changes, vec![prev.clone()], tree.id().clone())?;
        heads.insert(tree.id().clone(), prev);
    }
    Ok(())
}

/// Writers add `batches` batches to `trees` while this thread follows the feed from `cursor`'s
/// position with a subscription, acknowledging on it as it goes.
fn write_and_follow(
    space: &Space,
    trees: &[TreeStorage],
    args: &DemoArgs,
    batches: u64,
    cursor: &Cursor,
) -> Result<Round, Failure> {
    let run = space.add_seq();
    let from = cursor.get();
    let backlog = space.batches_after(from, usize::MAX).len() as u64;
    let writers = args.writers.min(args.trees);
    let bar = Progress::counter(backlog + batches, "batches");
    let started = Instant::now();
    let mut round = Round {
        batches,
        elapsed: Duration::ZERO,
        from,
        to: from,
        written: batches * u64::from(args.batch_size),
        wakes: 0,
        backlog,
        problem: None,
    };
    let batch_size = u64::from(args.batch_size);
    let results: Vec<Result<(), Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let mine: Vec<&TreeStorage> = trees
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i as u32 % writers == w)
                    .map(|(_, t)| t)
                    .collect();
                let count = batches / u64::from(writers)
                    + u64::from(u64::from(w) < batches % u64::from(writers));
                // Done, each writer syncs: the consumer's subscription delivers only durable
                // batches, and the last writer's sync covers every batch of the round.
                s.spawn(move || {
                    writer(&mine, w, count, run, args.batch_size).and_then(|()| space.sync())
                })
            })
            .collect();
        // The consumer: a subscription from its cursor, woken as batches are published (no
        // polling), until the backlog and every batch of the round arrived (or, if a writer
        // failed, until nothing more comes once the writers are done).
        let mut feed = space.subscribe_cursor(cursor);
        while round.wakes < backlog + batches {
            let batch = match feed.next_timeout(Duration::from_millis(500)) {
                Ok(Some(batch)) => batch,
                Ok(None) if handles.iter().all(|h| h.is_finished()) => break,
                Ok(None) => continue,
                Err(e) => {
                    round.problem = Some(format!("the subscription ended: {e}"));
                    break;
                }
            };
            if batch.add_seq <= round.to && round.problem.is_none() {
                round.problem = Some(format!(
                    "after AddSeq {} came {}: out of order",
                    round.to, batch.add_seq
                ));
            }
            // The demo's batches all have the same size; a backlog from an older run may not.
            if round.wakes >= backlog
                && batch.changes.len() as u64 != batch_size
                && round.problem.is_none()
            {
                round.problem = Some(format!(
                    "batch {} arrived with {} of its {batch_size} changes",
                    batch.add_seq,
                    batch.changes.len()
                ));
            }
            round.to = batch.add_seq;
            round.wakes += 1;
            if round.wakes.is_multiple_of(ACK_EVERY) {
                if let Err(e) = cursor.ack(round.to) {
                    round.problem = Some(format!("acknowledging {}: {e}", round.to));
                    break;
                }
            }
            bar.set(round.wakes);
            bar.message(format!("cursor {}", round.to));
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Internal("a writer panicked".into())))
            })
            .collect()
    });
    round.elapsed = started.elapsed();
    for r in results {
        r?;
    }
    cursor.ack(round.to)?;
    if round.problem.is_none() {
        if round.wakes != backlog + batches {
            round.problem = Some(format!(
                "{} batches arrived; {backlog} were waiting and {batches} were written",
                round.wakes
            ));
        } else if round.to != space.last_add_seq() {
            round.problem = Some(format!(
                "the consumer stopped at {}, the last batch is at {}",
                round.to,
                space.last_add_seq()
            ));
        }
    }
    Ok(round)
}

fn report_round(round: &Round, args: &DemoArgs, label: &str) -> Result<(), Failure> {
    say(format_args!(
        "{label}{} writers added {} ({} changes, {} each) to {} in {} ({} batches/s)",
        args.writers.min(args.trees),
        plural(round.batches, "batch"),
        round.written,
        args.batch_size,
        plural(u64::from(args.trees), "tree"),
        took(round.elapsed),
        rate(round.batches, round.elapsed)
    ))?;
    let backlog = if round.backlog > 0 {
        format!(", {} of them waiting above the cursor", round.backlog)
    } else {
        String::new()
    };
    match &round.problem {
        None => say(format_args!(
            "  the consumer followed its cursor {CONSUMER:?} {} -> {} through a subscription \
             ({} batches delivered{backlog}, no polling, acknowledged every {ACK_EVERY} and \
             at the end): every batch arrived whole, in order, once; none missed",
            round.from, round.to, round.wakes
        )),
        Some(p) => Err(Failure::Failed(format!("the consumer saw a problem: {p}"))),
    }
}

fn open(dir: &Path) -> Result<Space, Failure> {
    let _spin = Progress::spinner("replaying the log");
    Ok(Space::create(dir, Options::default())?)
}

/// `spacestore demo [DIR]`.
pub fn demo(args: DemoArgs) -> Result<(), Failure> {
    let existed = space_or_new(&args.dir)?;
    let dir = args.dir.as_path();
    let space = open(dir)?;
    let report = space.recovery_report().cloned().unwrap_or_default();
    if existed {
        say(format_args!(
            "opened {}: replayed {} changes in {} from {} frames ({}) in {}; AddSeq counter {}",
            dir.display(),
            space.change_count(),
            plural(space.tree_count() as u64, "tree"),
            report.frames,
            size(report.bytes_read),
            took(report.duration),
            space.add_seq()
        ))?;
    } else {
        say(format_args!("created {}: a new space", dir.display()))?;
    }
    let cursor = space.cursor(CONSUMER)?;
    if existed {
        let behind = space.batches_after(cursor.get(), usize::MAX).len();
        say(format_args!(
            "  the consumer's cursor {CONSUMER:?}, stored in the space, is at {} ({} above \
             it): the consumer carries on from it",
            cursor.get(),
            plural(behind as u64, "batch")
        ))?;
    }
    let trees: Vec<TreeStorage> = (0..args.trees)
        .map(|i| open_tree(&space, &format!("tree-{i:03}")))
        .collect::<Result<_, _>>()?;
    let round = write_and_follow(&space, &trees, &args, args.batches, &cursor)?;
    report_round(&round, &args, "")?;

    drop((trees, cursor));
    drop(space);
    let space = open(dir)?;
    let report = space.recovery_report().cloned().unwrap_or_default();
    let cursor = space.cursor(CONSUMER)?;
    say(format_args!(
        "closed and reopened: replayed {} frames ({} in {}) in {}; AddSeq counter {}, the \
         consumer's stored cursor {}, {} changes above it",
        report.frames,
        size(report.bytes_read),
        plural(report.segments as u64, "segment"),
        took(report.duration),
        space.add_seq(),
        cursor.get(),
        space.changes_after_add_seq(cursor.get()).count()
    ))?;
    let trees: Vec<TreeStorage> = (0..args.trees)
        .map(|i| open_tree(&space, &format!("tree-{i:03}")))
        .collect::<Result<_, _>>()?;
    let round = write_and_follow(&space, &trees, &args, args.batches / 2, &cursor)?;
    report_round(&round, &args, "after the restart: ")?;
    let log = space.log_stats().map_or(0, |s| s.log_bytes);
    say(format_args!(
        "{} holds {}, {} changes, {} of log; look inside: spacestore inspect {}",
        dir.display(),
        plural(space.tree_count() as u64, "tree"),
        space.change_count(),
        size(log),
        dir.display()
    ))?;
    Ok(())
}
