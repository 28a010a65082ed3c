//! Every file name of a space directory, in one place (raft-engine's `format.rs` is the model):
//! the lock, the segments, an unfinished checkpoint, and the side files a repair leaves.

use std::path::{Path, PathBuf};

/// The lock file inside a space directory.
pub const LOCK_FILE: &str = "LOCK";

/// The extension of a segment file.
const SEGMENT_EXT: &str = "wal";

/// The path of segment `seq` in `dir`: `NNNNNNNNNNNNNNNNNNNN.wal`, 20 digits, so that names sort
/// in log order.
pub fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.{SEGMENT_EXT}"))
}

/// The sequence number of a segment file name (`00000000000000000001.wal`), `None` for any
/// other name.
pub fn segment_seq_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The temporary file a checkpoint of segment `seq` is written to before its rename.
pub fn checkpoint_tmp_path(dir: &Path, seq: u64) -> PathBuf {
    segment_path(dir, seq).with_extension("wal.tmp")
}

/// Whether `name` is an unfinished checkpoint (removed by the next clean open).
pub fn is_checkpoint_tmp(name: &str) -> bool {
    name.ends_with(".wal.tmp")
}

/// Where a repair moves the rest of a segment from its first bad frame at `offset` on.
pub fn corrupt_tail_path(segment: &Path, offset: u64) -> PathBuf {
    segment.with_extension(format!("wal.corrupt-at-{offset}"))
}

/// Where a repair moves a whole segment that follows the corruption.
pub fn corrupt_segment_path(segment: &Path) -> PathBuf {
    segment.with_extension("wal.corrupt")
}

/// Where `spacestore repair` keeps a torn tail cut at `offset`.
#[cfg_attr(not(feature = "internals"), allow(dead_code))]
pub fn torn_tail_path(segment: &Path, offset: u64) -> PathBuf {
    segment.with_extension(format!("wal.torn-at-{offset}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_in_log_order() {
        let dir = Path::new("d");
        let a = segment_path(dir, 9);
        let b = segment_path(dir, 10);
        let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(segment_seq_of(&name(&a)), Some(9));
        assert!(name(&a) < name(&b));
        assert_eq!(segment_seq_of("9.wal"), None);
        assert_eq!(segment_seq_of(&name(&checkpoint_tmp_path(dir, 9))), None);
        assert!(is_checkpoint_tmp(&name(&checkpoint_tmp_path(dir, 9))));
    }
}
