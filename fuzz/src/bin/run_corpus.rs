//! The fuzz targets as a plain program, for any toolchain (no libFuzzer):
//!
//! ```text
//! cargo run --release --bin run_corpus -- replay|ops [FILE|DIR]...   # every input file
//! cargo run --release --bin run_corpus -- replay|ops --random N      # N random inputs
//! cargo run --release --bin run_corpus -- seeds DIR                 # write replay seeds
//! ```
//!
//! A failing input panics with its path (or, for random inputs, its bytes in hex).

use std::path::{Path, PathBuf};
use std::time::Instant;

use spacestore_fuzz::simfs::Rng;

fn files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            files(&e, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first() else {
        eprintln!("usage: run_corpus replay|ops [FILE|DIR]... | --random N; run_corpus seeds DIR");
        std::process::exit(2);
    };
    if target == "seeds" {
        let dir = PathBuf::from(args.get(1).expect("seeds DIR"));
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in spacestore_fuzz::replay_seeds().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), seed).unwrap();
        }
        return;
    }
    let run: fn(&[u8]) = match target.as_str() {
        "replay" => spacestore_fuzz::replay_bytes,
        "ops" => spacestore_fuzz::ops,
        other => panic!("unknown target {other}"),
    };
    let started = Instant::now();
    if args.get(1).map(String::as_str) == Some("--random") {
        let n: u64 = args
            .get(2)
            .and_then(|v| v.parse().ok())
            .expect("--random N");
        let mut rng = Rng::new(std::process::id() as u64 ^ started.elapsed().as_nanos() as u64);
        for i in 0..n {
            let len = rng.below(600) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let result = std::panic::catch_unwind(|| run(&data));
            if result.is_err() {
                panic!("input {i} failed: {}", hex(&data));
            }
        }
        eprintln!("{target}: {n} random inputs in {:.1?}", started.elapsed());
        return;
    }
    let mut inputs = Vec::new();
    for a in &args[1..] {
        files(Path::new(a), &mut inputs);
    }
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| run(&data));
        if result.is_err() {
            panic!("input {} failed", path.display());
        }
    }
    eprintln!(
        "{target}: {} inputs in {:.1?}",
        inputs.len(),
        started.elapsed()
    );
}
