//! `demo`: the crate's main job on an embedded default. Writers add batches to many trees of a
//! space in a data directory while a consumer follows the AddSeq cursor (incremental sync);
//! then the space is closed and reopened, and the consumer carries on from its cursor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use spacestore::{Error, Id, Options, Space, StorageChange, TreeRoot, TreeStorage};

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

/// What one round of writing and following did.
struct Round {
    batches: u64,
    elapsed: Duration,
    from: u64,
    to: u64,
    received: u64,
    /// Batches the subscription delivered.
    wakes: u64,
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
        tree.add_all(changes, [prev.clone()], tree.id().clone())?;
        heads.insert(tree.id().clone(), prev);
    }
    Ok(())
}

/// Writers add `batches` batches to `trees` while this thread follows the cursor from `cursor`.
fn write_and_follow(
    space: &Space,
    trees: &[TreeStorage],
    args: &DemoArgs,
    batches: u64,
    cursor: u64,
) -> Result<Round, Failure> {
    let run = space.add_seq();
    let writers = args.writers.min(args.trees);
    let bar = Progress::counter(batches, "batches");
    let started = Instant::now();
    let mut round = Round {
        batches,
        elapsed: Duration::ZERO,
        from: cursor,
        to: cursor,
        received: 0,
        wakes: 0,
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
                s.spawn(move || writer(&mine, w, count, run, args.batch_size))
            })
            .collect();
        // The consumer: a subscription from the cursor, woken as batches are published (no
        // polling), until every batch of the round arrived (or, if a writer failed, until
        // nothing more comes once the writers are done).
        let mut feed = space.subscribe(cursor);
        while round.to - round.from < batches {
            let batch = match feed.next_timeout(Duration::from_millis(500)) {
                Ok(Some(batch)) => batch,
                Ok(None) if handles.iter().all(|h| h.is_finished()) => break,
                Ok(None) => continue,
                Err(e) => {
                    round.problem = Some(format!("the subscription ended: {e}"));
                    break;
                }
            };
            if batch.add_seq != round.to + 1 && round.problem.is_none() {
                round.problem = Some(format!(
                    "after AddSeq {} came {}: a batch was missed",
                    round.to, batch.add_seq
                ));
            }
            if batch.changes.len() as u64 != batch_size && round.problem.is_none() {
                round.problem = Some(format!(
                    "batch {} arrived with {} of its {batch_size} changes",
                    batch.add_seq,
                    batch.changes.len()
                ));
            }
            round.to = batch.add_seq;
            round.received += batch.changes.len() as u64;
            round.wakes += 1;
            bar.set(round.to - cursor);
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
    if round.to - round.from != batches && round.problem.is_none() {
        round.problem = Some(format!(
            "the cursor moved by {} for {batches} batches",
            round.to - round.from
        ));
    }
    Ok(round)
}

fn report_round(round: &Round, args: &DemoArgs, label: &str) -> Result<(), Failure> {
    say(format_args!(
        "{label}{} writers added {} ({} changes, {} each) to {} in {} ({} batches/s)",
        args.writers.min(args.trees),
        plural(round.batches, "batch"),
        round.received,
        args.batch_size,
        plural(u64::from(args.trees), "tree"),
        took(round.elapsed),
        rate(round.batches, round.elapsed)
    ))?;
    let follows = if label.is_empty() {
        "followed the AddSeq cursor"
    } else {
        "carried on from its cursor:"
    };
    match &round.problem {
        None => say(format_args!(
            "  the consumer {follows} {} -> {} through a subscription ({} batches \
             delivered, no polling): every batch arrived whole, in order, once; none missed",
            round.from, round.to, round.wakes
        )),
        Some(p) => Err(Failure::Failed(format!("the consumer saw a problem: {p}"))),
    }
}

fn open(dir: &Path) -> Result<Space, Failure> {
    let _spin = Progress::spinner("replaying the log");
    Ok(Space::open(dir, Options::default())?)
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
    let trees: Vec<TreeStorage> = (0..args.trees)
        .map(|i| open_tree(&space, &format!("tree-{i:03}")))
        .collect::<Result<_, _>>()?;
    // The consumer starts at the current counter: it wants what is added from now on.
    let round = write_and_follow(&space, &trees, &args, args.batches, space.add_seq())?;
    report_round(&round, &args, "")?;
    let cursor = round.to;

    drop(trees);
    drop(space);
    let space = open(dir)?;
    let report = space.recovery_report().cloned().unwrap_or_default();
    let pending = space.collect_changes_after_add_seq(cursor).len();
    say(format_args!(
        "closed and reopened: replayed {} frames ({} in {}) in {}; AddSeq counter {}, the \
         consumer's cursor {cursor}, {} changes above it",
        report.frames,
        size(report.bytes_read),
        plural(report.segments as u64, "segment"),
        took(report.duration),
        space.add_seq(),
        pending
    ))?;
    let trees: Vec<TreeStorage> = (0..args.trees)
        .map(|i| open_tree(&space, &format!("tree-{i:03}")))
        .collect::<Result<_, _>>()?;
    let round = write_and_follow(&space, &trees, &args, args.batches / 2, cursor)?;
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
