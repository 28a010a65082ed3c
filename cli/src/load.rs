//! `load`: a synthetic load, one line per acknowledged batch. A user's disk check, and the
//! writer that crash tests kill.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use spacestore::{Error, Options, Space, StorageChange, TreeRoot, TreeStorage};

use crate::failure::{io_failure, space_or_new, Failure};
use crate::ui::{plural, rate, say, size, stdout_is_terminal, took, Progress};
use crate::DurabilityArg;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct LoadArgs {
    /// The space directory (created when missing).
    dir: PathBuf,
    /// How many trees (`load-0000`, `load-0001`, ...; created when missing).
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    trees: u32,
    /// How many batches in all (batch i goes to tree i mod T).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    batches: u64,
    /// Changes per batch.
    #[arg(long, value_name = "K", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// Bytes of each change's raw bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(0..=(16 << 20)))]
    change_size: u32,
    /// When a write is acknowledged.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Buffered)]
    durability: DurabilityArg,
    /// Writer threads.
    #[arg(long, value_name = "W", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
}

/// Cheap, deterministic filler bytes (xorshift), different for every batch.
fn filler(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn open_tree(space: &Space, id: &str) -> Result<TreeStorage, Error> {
    match space.tree_storage(id) {
        Err(Error::UnknownTree(_)) => {
            space.create_tree_storage(TreeRoot::new(id, format!("root of {id}").into_bytes()))
        }
        other => other,
    }
}

/// `spacestore load DIR --trees T --batches N [...]`.
pub fn load(args: LoadArgs) -> Result<(), Failure> {
    space_or_new(&args.dir)?;
    let durability: spacestore::Durability = args.durability.into();
    let space = {
        let _spin = Progress::spinner("opening the space");
        Space::create(&args.dir, Options::default().durability(durability))?
    };
    // Ids unique across runs: the counter at open is above every seq of earlier runs.
    let tag = space.add_seq();
    let trees: Vec<TreeStorage> = {
        let bar = Progress::counter(u64::from(args.trees), "trees");
        (0..args.trees)
            .map(|i| {
                bar.inc();
                open_tree(&space, &format!("load-{i:04}"))
            })
            .collect::<Result<_, _>>()?
    };
    let acks = !stdout_is_terminal();
    let bar = Progress::counter(args.batches, "batches");
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let first_seq = AtomicU64::new(u64::MAX);
    let last_seq = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Failure>> = Mutex::new(None);
    let fail = |f: Failure| {
        stop.store(true, Ordering::Relaxed);
        let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(f);
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= args.batches {
                        break;
                    }
                    let tree = &trees[(b % u64::from(args.trees)) as usize];
                    let changes: Vec<StorageChange> = (0..args.batch_size)
                        .map(|i| {
                            StorageChange::new(
                                format!("{}.{tag}.{b}.{i}", tree.id()),
                                format!("{tag:020}.{b:012}.{i:06}"),
                                filler(b * 100_003 + u64::from(i), args.change_size as usize),
                            )
                            .with_prev_ids([tree.id().clone()])
                        })
                        .collect();
                    let head = changes[changes.len() - 1].id.clone();
                    let seq = match tree.add_all(changes, vec![head], tree.id().clone()) {
                        Ok(seq) => seq,
                        Err(e) => {
                            fail(e.into());
                            break;
                        }
                    };
                    first_seq.fetch_min(seq, Ordering::Relaxed);
                    last_seq.fetch_max(seq, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                    if acks {
                        let mut out = std::io::stdout().lock();
                        let written = writeln!(out, "ack tree={} add_seq={seq}", tree.id())
                            .and_then(|()| out.flush());
                        if let Err(e) = written {
                            fail(io_failure("writing to stdout", &e));
                            break;
                        }
                    } else {
                        bar.inc();
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    drop(bar);
    if let Some(f) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(f);
    }
    let batches = done.into_inner();
    let changes = batches * u64::from(args.batch_size);
    let log = space.log_stats().map_or(0, |s| s.log_bytes);
    say(format_args!(
        "loaded {} ({} changes, {} of change bytes) into {} with {}, {} durability, in {}: \
         {} batches/s; AddSeq {}..{}; log {}",
        plural(batches, "batch"),
        changes,
        size(changes * u64::from(args.change_size)),
        plural(u64::from(args.trees), "tree"),
        plural(u64::from(args.threads), "thread"),
        match args.durability {
            DurabilityArg::Buffered => "buffered",
            DurabilityArg::Sync => "sync",
        },
        took(elapsed),
        rate(batches, elapsed),
        first_seq.into_inner(),
        last_seq.into_inner(),
        size(log)
    ))?;
    Ok(())
}
