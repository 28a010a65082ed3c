//! `SimFs`: an in-memory [`FileSystem`] for fault injection and simulated power loss.
//!
//! - **Faults**: fail the Nth call of a kind (write, fsync, directory sync, rename, create,
//!   remove, truncate) with an `io::Error` of your choice, or make a write short (part of the
//!   buffer lands, then the call fails); a space limit makes writes fail with ENOSPC (after
//!   writing what fits) until it is lifted.
//! - **Power loss**: every file keeps its durable bytes (what an fsync covered) apart from its
//!   current bytes (durable bytes plus the writes and truncations since the last fsync, in
//!   order); each directory keeps its durable entries apart from its current ones (files and
//!   directories made, renamed and removed since the last `sync_dir` of that directory). A
//!   directory is known by its identity, not its path: one renamed keeps what it holds, and one
//!   whose own entry never became durable (its parent not synced since it was made) is gone after
//!   a power cut with everything in it. Renames stay within one directory (`EXDEV` otherwise). [`SimFs::cut_power_at`] arms a cut at the
//!   Nth mutating call from now (the call is in flight: it may or may not land, a write may land
//!   torn), [`SimFs::cut_power`] cuts at once. While the power is off every call fails.
//!   [`SimFs::reboot`] decides what reached the disk (see [`Tear`]) and returns the handle of
//!   the next boot; handles of earlier boots (and the log files they opened) fail forever, so
//!   dropping a space that lived through the cut writes nothing.
//!
//! - **Process crash**: [`SimFs::kill_process`] makes every handle of the running process dead
//!   and frees its locks, but keeps everything it wrote (synced or not), as the page cache does.
//!
//! The handle is cheap to clone (an `Arc` inside): a test keeps one to inject faults, cut power
//! and count calls while the space uses another. [`workload`] runs random workloads over a space
//! on it and checks a recovered space against what they wrote and what was acknowledged.
//!
//! What it models is the `FileSystem` / `LogFile` contract, not `StdFileSystem`'s internals: of
//! its preallocation (zeros ahead of the data) it models what the trait shows, the fsync an
//! append makes each time the data passes the allocated space (`Op::Fsync`, which can fail:
//! the append then fails with an error marked `FsyncFailed`).
#![allow(dead_code)]

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use spacestore::{EntryKind, FileSystem, FsyncFailed, LogFile};

use crate::namespace::{DirOp, Namespace, Node, ROOT};

/// A small deterministic random number generator (xorshift64*), so that every failure can be
/// replayed from its seed; or a tape of bytes (a fuzzer's input) read two at a time, zeros
/// once it runs out.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
    tape: Option<(Arc<[u8]>, usize)>,
}

impl Rng {
    /// A generator from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        let mut r = Rng {
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
            tape: None,
        };
        if r.state == 0 {
            r.state = 1;
        }
        r.next_u64();
        r
    }
    /// A "generator" that plays back `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Rng {
        Rng {
            state: 1,
            tape: Some((Arc::from(bytes), 0)),
        }
    }
    /// The next 64 random bits (16 from a tape).
    pub fn next_u64(&mut self) -> u64 {
        if let Some((tape, pos)) = &mut self.tape {
            let mut v = 0u64;
            for _ in 0..2 {
                v = v << 8 | u64::from(tape.get(*pos).copied().unwrap_or(0));
                *pos += 1;
            }
            return v;
        }
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Whether a tape ran out.
    pub fn exhausted(&self) -> bool {
        self.tape.as_ref().is_some_and(|(t, p)| *p >= t.len())
    }
    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// The kinds of file-system calls that change something (the ones faults and power cuts hit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `FileSystem::create`.
    Create,
    /// `LogFile::append`.
    Write,
    /// `LogFile::sync_data`.
    Fsync,
    /// `LogFile::truncate` (the take-back of a failed write).
    FileTruncate,
    /// `FileSystem::truncate` (cutting a torn tail; synced).
    Truncate,
    /// `FileSystem::remove`.
    Remove,
    /// `FileSystem::rename`.
    Rename,
    /// `FileSystem::sync_dir`.
    SyncDir,
}

impl Op {
    /// Every kind.
    pub const ALL: [Op; 8] = [
        Op::Create,
        Op::Write,
        Op::Fsync,
        Op::FileTruncate,
        Op::Truncate,
        Op::Remove,
        Op::Rename,
        Op::SyncDir,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// `EIO`.
pub const EIO: i32 = 5;
/// `ENOSPC`.
pub const ENOSPC: i32 = 28;
/// `EXDEV`: a rename across directories (not modelled).
pub const EXDEV: i32 = 18;
/// `ENOTDIR`.
pub const ENOTDIR: i32 = 20;
/// `EISDIR`.
pub const EISDIR: i32 = 21;
/// `ENOTEMPTY`.
pub const ENOTEMPTY: i32 = 39;

/// What an injected fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this OS error code and changes nothing.
    Error(i32),
    /// A write: the first `n` bytes of the buffer land (fewer if the buffer is shorter), then
    /// the call fails with ENOSPC (what `write_all` reports after a short write on a full disk).
    /// Other calls: as `Error(ENOSPC)`.
    Short(usize),
}

/// A fault that went off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The kind of call.
    pub op: Op,
    /// Its index among the calls of that kind.
    pub nth: u64,
    /// What was injected.
    pub fault: Fault,
    /// The file (or the rename's source) it hit, if any.
    pub path: Option<PathBuf>,
    /// For writes and fsyncs: the file's length before the call (0: a new segment's header).
    pub len: usize,
    /// For writes: the bytes the call was given.
    pub size: usize,
    /// The size of the write call before this call (any file).
    pub prev_write: usize,
}

/// How much of what was not synced reaches the disk at a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// Nothing unsynced: every file is its durable bytes, the directory its durable entries.
    DropUnsynced,
    /// Every unsynced write and directory change lands, except that the last unsynced write of
    /// each file is torn at a random byte.
    LastTorn,
    /// For each file, a random prefix of its unsynced writes lands, the last one torn at a
    /// random byte (sometimes with the rest of its length zero-filled, as when the file size
    /// reached the disk before the data); a random prefix of the directory's unsynced changes
    /// lands.
    RandomPrefix,
}

impl Tear {
    /// Every mode.
    pub const ALL: [Tear; 3] = [Tear::DropUnsynced, Tear::LastTorn, Tear::RandomPrefix];
}

#[derive(Clone, Debug)]
enum FileOp {
    Append(Vec<u8>),
    Truncate(usize),
}

#[derive(Clone, Debug, Default)]
struct Inode {
    /// What a read sees.
    data: Vec<u8>,
    /// What survives a power cut.
    durable: Vec<u8>,
    /// The changes from `durable` to `data`, in order.
    pending: Vec<FileOp>,
}

impl Inode {
    fn apply(&mut self, op: FileOp) {
        match &op {
            FileOp::Append(b) => self.data.extend_from_slice(b),
            FileOp::Truncate(n) => self.data.truncate(*n),
        }
        self.pending.push(op);
    }
    fn sync(&mut self) {
        self.durable = self.data.clone();
        self.pending.clear();
    }
}

#[derive(Debug, Default)]
struct State {
    /// The current boot; handles of earlier boots fail.
    boot: u64,
    /// False between a cut and the reboot.
    power_off: bool,
    inodes: Vec<Inode>,
    /// What a lookup sees.
    names: Namespace,
    /// What survives a power cut.
    durable_names: Namespace,
    /// Directory changes not yet made durable by `sync_dir` of their directory, in order.
    dir_pending: Vec<DirOp>,
    /// Directories made so far (identities 1.., the root is 0).
    dirs_made: u64,
    locked: HashSet<PathBuf>,
    /// Calls of each kind so far (over every boot).
    counts: [u64; 8],
    /// Mutating calls so far (over every boot).
    ops: u64,
    /// Armed faults: (kind, index of the call of that kind, what happens).
    faults: Vec<(Op, u64, Fault)>,
    /// Faults that went off.
    fired: Vec<Fired>,
    /// Cut the power when `ops` reaches this.
    cut_at: Option<u64>,
    /// Bytes the files may hold in total (`None`: unlimited).
    capacity: Option<u64>,
    /// The size of the last write call.
    last_write: usize,
    /// A trace of the calls, when enabled.
    trace: Option<Vec<String>>,
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss: the machine is off")
}

impl State {
    fn used(&self) -> u64 {
        let live: BTreeSet<usize> = self.names.files().into_iter().map(|(_, i)| i).collect();
        live.iter().map(|&i| self.inodes[i].data.len() as u64).sum()
    }

    /// Counts a mutating call of `op` and decides its fate: `Ok(None)` go on, `Ok(Some(f))`
    /// inject `f`, `Err(true)` the power goes off during this call (apply it as unsynced, then
    /// fail), `Err(false)` fail at once (power is off or the handle is stale).
    fn enter(
        &mut self,
        op: Op,
        boot: u64,
        path: Option<&Path>,
        size: usize,
    ) -> Result<Option<Fault>, bool> {
        if self.power_off || boot != self.boot {
            return Err(false);
        }
        let n = self.counts[op.index()];
        self.counts[op.index()] += 1;
        let prev_write = self.last_write;
        if op == Op::Write {
            self.last_write = size;
        }
        let total = self.ops;
        self.ops += 1;
        if let Some(t) = &mut self.trace {
            t.push(format!("#{total} {op:?}[{n}]"));
        }
        if self.cut_at == Some(total) {
            self.cut_at = None;
            self.power_off = true;
            return Err(true);
        }
        if let Some(i) = self.faults.iter().position(|&(o, k, _)| o == op && k == n) {
            let (op, nth, fault) = self.faults.remove(i);
            let len = path
                .and_then(|p| self.names.file(p))
                .map_or(0, |ino| self.inodes[ino].data.len());
            self.fired.push(Fired {
                op,
                nth,
                fault,
                path: path.map(Path::to_path_buf),
                len,
                size,
                prev_write,
            });
            return Ok(Some(fault));
        }
        Ok(None)
    }

    fn check_boot(&self, boot: u64) -> io::Result<()> {
        if self.power_off || boot != self.boot {
            Err(power_lost())
        } else {
            Ok(())
        }
    }

    /// A current name of inode `ino`.
    fn name_of(&self, ino: usize) -> Option<PathBuf> {
        self.names
            .files()
            .into_iter()
            .find(|&(_, i)| i == ino)
            .map(|(p, _)| PathBuf::from(p))
    }

    fn inode_of(&self, path: &Path) -> io::Result<usize> {
        self.names
            .file(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// A change to a directory's entries: made now, durable once that directory is synced.
    fn dir_op(&mut self, op: DirOp) {
        self.names.apply(&op);
        self.dir_pending.push(op);
    }

    /// Makes `dir` and the directories above it that are missing, each one's entry pending
    /// in its parent (`durable`: durable at once, for setting up by hand).
    fn make_dirs(&mut self, dir: &Path, durable: bool) -> io::Result<u64> {
        let mut at = ROOT;
        for c in dir.components() {
            let Component::Normal(name) = c else { continue };
            let name = name.to_str().ok_or(io::ErrorKind::InvalidInput)?.to_owned();
            at = match self.names.get(at, &name) {
                Some(Node::Dir(d)) => d,
                Some(Node::File(_)) => return Err(os_error(ENOTDIR)),
                None => {
                    self.dirs_made += 1;
                    let op = DirOp::Link {
                        dir: at,
                        name,
                        node: Node::Dir(self.dirs_made),
                    };
                    if durable {
                        self.names.apply(&op);
                        self.durable_names.apply(&op);
                    } else {
                        self.dir_op(op);
                    }
                    self.dirs_made
                }
            };
        }
        Ok(at)
    }
}

fn os_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The simulated file system (see the module docs). Clone it to keep a handle.
#[derive(Clone, Debug)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
    /// The boot this handle belongs to.
    boot: u64,
}

impl Default for SimFs {
    fn default() -> Self {
        SimFs::new()
    }
}

impl SimFs {
    /// An empty file system, powered on.
    pub fn new() -> SimFs {
        SimFs {
            state: Arc::new(Mutex::new(State::default())),
            boot: 0,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This handle as the `Arc<dyn FileSystem>` that `Options::file_system` takes.
    pub fn arc(&self) -> Arc<dyn FileSystem> {
        Arc::new(self.clone())
    }

    /// Records every mutating call (kind, index) from now on; see [`SimFs::trace`].
    pub fn enable_trace(&self) {
        self.state().trace.get_or_insert_with(Vec::new);
    }

    /// The recorded calls.
    pub fn trace(&self) -> Vec<String> {
        self.state().trace.clone().unwrap_or_default()
    }

    /// How many calls of `op` were made so far.
    pub fn count(&self, op: Op) -> u64 {
        self.state().counts[op.index()]
    }

    /// Calls of every kind so far.
    pub fn counts(&self) -> [u64; 8] {
        self.state().counts
    }

    /// Mutating calls so far (the clock that [`SimFs::cut_power_at`] uses).
    pub fn ops(&self) -> u64 {
        self.state().ops
    }

    /// Makes the call of kind `op` whose index (counted from the creation of the file system,
    /// over every boot, from 0) is `nth` fail as `fault` says. One-shot.
    pub fn fail(&self, op: Op, nth: u64, fault: Fault) {
        self.state().faults.push((op, nth, fault));
    }

    /// Makes the next call of kind `op` fail as `fault` says.
    pub fn fail_next(&self, op: Op, fault: Fault) {
        let mut s = self.state();
        let n = s.counts[op.index()];
        s.faults.push((op, n, fault));
    }

    /// Removes every armed fault.
    pub fn disarm(&self) {
        self.state().faults.clear();
    }

    /// The faults that went off so far.
    pub fn fired(&self) -> Vec<Fired> {
        self.state().fired.clone()
    }

    /// Limits the bytes all files may hold together (`None`: no limit). A write that does not
    /// fit writes what fits and fails with ENOSPC.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state().capacity = bytes;
    }

    /// Bytes held by the files that have a name.
    pub fn used(&self) -> u64 {
        self.state().used()
    }

    /// Cuts the power during the mutating call that comes `n` calls from now (0: the next).
    pub fn cut_power_at(&self, n: u64) {
        let mut s = self.state();
        s.cut_at = Some(s.ops + n);
    }

    /// Cuts the power now (between two calls).
    pub fn cut_power(&self) {
        let mut s = self.state();
        s.power_off = true;
        s.cut_at = None;
    }

    /// Whether the power is off (a cut happened and no reboot yet).
    pub fn power_is_off(&self) -> bool {
        self.state().power_off
    }

    /// Decides what reached the disk (cutting the power first if it is on), then powers the
    /// machine on again: files are their surviving bytes, every lock is free, armed faults and
    /// cuts are cleared. Returns the handle to use from now on; older handles stay dead.
    pub fn reboot(&self, tear: Tear, rng: &mut Rng) -> SimFs {
        let mut s = self.state();
        s.power_off = true;
        s.cut_at = None;
        // The directory: a prefix of its unsynced changes.
        let keep = match tear {
            Tear::DropUnsynced => 0,
            Tear::LastTorn => s.dir_pending.len(),
            Tear::RandomPrefix => rng.below(s.dir_pending.len() as u64 + 1) as usize,
        };
        let pending = std::mem::take(&mut s.dir_pending);
        let mut names = s.durable_names.clone();
        for op in &pending[..keep] {
            names.apply(op);
        }
        s.durable_names = names.clone();
        s.names = names;
        // Every file: its durable bytes plus a prefix of its unsynced changes.
        for inode in &mut s.inodes {
            let mut data = inode.durable.clone();
            let n = inode.pending.len();
            let (whole, torn) = match tear {
                Tear::DropUnsynced => (0, false),
                Tear::LastTorn => (n.saturating_sub(1), n > 0),
                Tear::RandomPrefix => {
                    let k = rng.below(n as u64 + 1) as usize;
                    (k, k < n && rng.chance(1, 2))
                }
            };
            for op in &inode.pending[..whole] {
                match op {
                    FileOp::Append(b) => data.extend_from_slice(b),
                    FileOp::Truncate(len) => data.truncate(*len),
                }
            }
            if torn {
                match &inode.pending[whole] {
                    FileOp::Append(b) => {
                        let cut = rng.below(b.len() as u64 + 1) as usize;
                        data.extend_from_slice(&b[..cut]);
                        if tear == Tear::RandomPrefix && rng.chance(1, 4) {
                            data.resize(data.len() + (b.len() - cut), 0);
                        }
                    }
                    FileOp::Truncate(len) => data.truncate(*len),
                }
            }
            inode.durable = data.clone();
            inode.data = data;
            inode.pending.clear();
        }
        s.locked.clear();
        s.faults.clear();
        s.boot += 1;
        s.power_off = false;
        if let Some(t) = &mut s.trace {
            t.push(format!("reboot ({tear:?})"));
        }
        SimFs {
            state: Arc::clone(&self.state),
            boot: s.boot,
        }
    }

    /// Kills the process (not the machine): every handle of this boot, and every log file
    /// opened through one, fails from now on and every lock is free, but the files keep all
    /// they hold (what was written and not synced stays in the page cache). Returns the handle
    /// of the next process.
    pub fn kill_process(&self) -> SimFs {
        let mut s = self.state();
        s.locked.clear();
        s.faults.clear();
        s.cut_at = None;
        s.boot += 1;
        if let Some(t) = &mut s.trace {
            t.push("process killed".to_owned());
        }
        SimFs {
            state: Arc::clone(&self.state),
            boot: s.boot,
        }
    }

    /// Writes `bytes` as the whole durable content of `path` (creating it, its name durable):
    /// for setting up a directory by hand.
    ///
    /// # Panics
    /// When a directory on the way is a file, or `path` has no file name.
    pub fn put(&self, path: &Path, bytes: &[u8]) {
        let mut s = self.state();
        let dir = s
            .make_dirs(path.parent().unwrap_or(Path::new("")), true)
            .expect("put: a directory on the way is a file");
        let ino = s.inodes.len();
        s.inodes.push(Inode {
            data: bytes.to_vec(),
            durable: bytes.to_vec(),
            pending: Vec::new(),
        });
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("put: a file name");
        let op = DirOp::Link {
            dir,
            name: name.to_owned(),
            node: Node::File(ino),
        };
        s.names.apply(&op);
        s.durable_names.apply(&op);
    }

    /// The current content of `path`, if it exists.
    pub fn get(&self, path: &Path) -> Option<Vec<u8>> {
        let s = self.state();
        s.names.file(path).map(|i| s.inodes[i].data.clone())
    }

    /// Whether `needle` appears in the durable bytes (what an fsync covered) of a file that
    /// has a name.
    pub fn durable_contains(&self, needle: &[u8]) -> bool {
        let s = self.state();
        s.names.files().into_iter().any(|(_, i)| {
            let durable = &s.inodes[i].durable;
            !needle.is_empty() && durable.windows(needle.len()).any(|w| w == needle)
        })
    }

    /// The current names in `dir` (files and directories), sorted; none when there is no
    /// such directory.
    pub fn names(&self, dir: &Path) -> Vec<String> {
        let s = self.state();
        let Some(d) = s.names.dir(dir) else {
            return Vec::new();
        };
        s.names.list(d).map(|(n, _)| n.to_owned()).collect()
    }
}

struct SimFile {
    fs: SimFs,
    ino: usize,
    /// Whether the log asked for preallocation (`Sync` spaces), and the bytes "allocated".
    preallocate: AtomicBool,
    allocated: AtomicU64,
}

/// How far ahead a preallocating file allocates (as `StdFileSystem` does).
const PREALLOCATE: u64 = 1 << 20;

impl LogFile for SimFile {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        // Preallocation as `StdFileSystem` does it, as far as the trait can tell: each time the
        // data passes the allocated space, the append first fsyncs the file (the real one
        // fsyncs the zeros it writes ahead), and a failure there is a failed fsync.
        if self.preallocate.load(Ordering::Relaxed) {
            let len = self.fs.state().inodes[self.ino].data.len() as u64;
            let end = len + buf.len() as u64;
            if end > self.allocated.load(Ordering::Relaxed) {
                self.sync_data().map_err(FsyncFailed::wrap)?;
                self.allocated.store(end + PREALLOCATE, Ordering::Relaxed);
            }
        }
        let mut s = self.fs.state();
        let name = s.name_of(self.ino);
        let entered = s.enter(Op::Write, self.fs.boot, name.as_deref(), buf.len());
        let fault = match entered {
            Ok(f) => f,
            Err(true) => {
                s.inodes[self.ino].apply(FileOp::Append(buf.to_vec()));
                return Err(power_lost());
            }
            Err(false) => return Err(power_lost()),
        };
        match fault {
            Some(Fault::Error(code)) => return Err(os_error(code)),
            Some(Fault::Short(n)) => {
                let n = n.min(buf.len());
                if n > 0 {
                    s.inodes[self.ino].apply(FileOp::Append(buf[..n].to_vec()));
                }
                return Err(os_error(ENOSPC));
            }
            None => {}
        }
        if let Some(cap) = s.capacity {
            let used = s.used();
            let room = cap.saturating_sub(used) as usize;
            if buf.len() > room {
                if room > 0 {
                    s.inodes[self.ino].apply(FileOp::Append(buf[..room].to_vec()));
                }
                return Err(os_error(ENOSPC));
            }
        }
        s.inodes[self.ino].apply(FileOp::Append(buf.to_vec()));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut s = self.fs.state();
        let name = s.name_of(self.ino);
        let entered = s.enter(Op::Fsync, self.fs.boot, name.as_deref(), 0);
        match entered {
            Ok(None) => {
                s.inodes[self.ino].sync();
                Ok(())
            }
            Ok(Some(Fault::Error(code))) => Err(os_error(code)),
            Ok(Some(Fault::Short(_))) => Err(os_error(ENOSPC)),
            Err(_) => Err(power_lost()),
        }
    }

    fn preallocate(&self, enabled: bool) {
        self.preallocate.store(enabled, Ordering::Relaxed);
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        let mut s = self.fs.state();
        let name = s.name_of(self.ino);
        let entered = s.enter(Op::FileTruncate, self.fs.boot, name.as_deref(), 0);
        match entered {
            Ok(None) => {
                s.inodes[self.ino].apply(FileOp::Truncate(len as usize));
                // As `StdFileSystem`: the allocated space goes with the cut.
                self.allocated.store(len, Ordering::Relaxed);
                Ok(())
            }
            Ok(Some(Fault::Error(code))) => Err(os_error(code)),
            Ok(Some(Fault::Short(_))) => Err(os_error(ENOSPC)),
            Err(true) => {
                s.inodes[self.ino].apply(FileOp::Truncate(len as usize));
                Err(power_lost())
            }
            Err(false) => Err(power_lost()),
        }
    }
}

/// Unlocks a directory when dropped, unless the machine rebooted since.
struct LockGuard {
    fs: SimFs,
    dir: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let mut s = self.fs.state();
        if s.boot == self.fs.boot {
            s.locked.remove(&self.dir);
        }
    }
}

fn fault_result(fault: Option<Fault>) -> io::Result<()> {
    match fault {
        None => Ok(()),
        Some(Fault::Error(code)) => Err(os_error(code)),
        Some(Fault::Short(_)) => Err(os_error(ENOSPC)),
    }
}

impl FileSystem for SimFs {
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state();
        let Some(ino) = s.names.file(path) else {
            return Err(io::ErrorKind::NotFound.into());
        };
        match s.enter(Op::Fsync, self.boot, Some(path), 0) {
            Ok(None) => {
                s.inodes[ino].sync();
                Ok(())
            }
            Ok(Some(Fault::Error(code))) => Err(os_error(code)),
            Ok(Some(Fault::Short(_))) => Err(os_error(ENOSPC)),
            Err(_) => Err(power_lost()),
        }
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let mut s = self.state();
        let cut = match s.enter(Op::Create, self.boot, Some(path), 0) {
            Ok(f) => {
                fault_result(f)?;
                false
            }
            Err(true) => true,
            Err(false) => return Err(power_lost()),
        };
        let Some((dir, name)) = s.names.split(path) else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let ino = match s.names.resolve(path) {
            Some(Node::File(ino)) => {
                s.inodes[ino].apply(FileOp::Truncate(0));
                ino
            }
            Some(Node::Dir(_)) => return Err(os_error(EISDIR)),
            None => {
                let ino = s.inodes.len();
                s.inodes.push(Inode::default());
                s.dir_op(DirOp::Link {
                    dir,
                    name,
                    node: Node::File(ino),
                });
                ino
            }
        };
        if cut {
            return Err(power_lost());
        }
        Ok(Box::new(SimFile {
            fs: self.clone(),
            ino,
            preallocate: AtomicBool::new(false),
            allocated: AtomicU64::new(0),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Bytes> {
        let s = self.state();
        s.check_boot(self.boot)?;
        let ino = s.inode_of(path)?;
        Ok(Bytes::copy_from_slice(&s.inodes[ino].data))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state();
        s.check_boot(self.boot)?;
        let d = s.names.dir(dir).ok_or(io::ErrorKind::NotFound)?;
        Ok(s.names.list(d).map(|(n, _)| n.to_owned()).collect())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.state();
        let cut = match s.enter(Op::Truncate, self.boot, Some(path), 0) {
            Ok(f) => {
                fault_result(f)?;
                false
            }
            Err(true) => true,
            Err(false) => return Err(power_lost()),
        };
        let ino = s.inode_of(path)?;
        s.inodes[ino].apply(FileOp::Truncate(len as usize));
        if cut {
            return Err(power_lost());
        }
        // The real one syncs the file after cutting it.
        s.inodes[ino].sync();
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state();
        let cut = match s.enter(Op::Remove, self.boot, Some(path), 0) {
            Ok(f) => {
                fault_result(f)?;
                false
            }
            Err(true) => true,
            Err(false) => return Err(power_lost()),
        };
        s.inode_of(path)?;
        let (dir, name) = s.names.split(path).ok_or(io::ErrorKind::NotFound)?;
        s.dir_op(DirOp::Unlink { dir, name });
        if cut {
            return Err(power_lost());
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state();
        let cut = match s.enter(Op::Rename, self.boot, Some(from), 0) {
            Ok(f) => {
                fault_result(f)?;
                false
            }
            Err(true) => true,
            Err(false) => return Err(power_lost()),
        };
        let node = s.names.resolve(from).ok_or(io::ErrorKind::NotFound)?;
        let (dir, from_name) = s.names.split(from).ok_or(io::ErrorKind::NotFound)?;
        let (to_dir, to_name) = s.names.split(to).ok_or(io::ErrorKind::NotFound)?;
        if to_dir != dir {
            // Only renames within a directory are modelled (all spacestore makes).
            return Err(os_error(EXDEV));
        }
        match (node, s.names.resolve(to)) {
            (_, None) | (Node::File(_), Some(Node::File(_))) => {}
            (Node::Dir(_), Some(Node::File(_))) => return Err(os_error(ENOTDIR)),
            (_, Some(Node::Dir(d))) => {
                if !matches!(node, Node::Dir(_)) {
                    return Err(os_error(EISDIR));
                }
                if s.names.list(d).next().is_some() {
                    return Err(os_error(ENOTEMPTY));
                }
            }
        }
        s.dir_op(DirOp::Rename {
            dir,
            from: from_name,
            to: to_name,
            node,
        });
        if cut {
            return Err(power_lost());
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state();
        match s.enter(Op::SyncDir, self.boot, Some(dir), 0) {
            Ok(f) => fault_result(f)?,
            Err(_) => return Err(power_lost()),
        }
        let id = s.names.dir(dir).ok_or(io::ErrorKind::NotFound)?;
        let pending = std::mem::take(&mut s.dir_pending);
        let mut rest = Vec::new();
        for op in pending {
            if op.dir() == id {
                s.durable_names.apply(&op);
            } else {
                rest.push(op);
            }
        }
        s.dir_pending = rest;
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.check_boot(self.boot)?;
        s.make_dirs(dir, false).map(drop)
    }

    fn list_dirs(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.state();
        s.check_boot(self.boot)?;
        let d = s.names.dir(dir).ok_or(io::ErrorKind::NotFound)?;
        Ok(s.names
            .list(d)
            .filter(|(_, node)| matches!(node, Node::Dir(_)))
            .map(|(n, _)| n.to_owned())
            .collect())
    }

    fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state();
        s.check_boot(self.boot)?;
        let d = s.names.dir(dir).ok_or(io::ErrorKind::NotFound)?;
        if s.names.list(d).next().is_some() {
            return Err(os_error(ENOTEMPTY));
        }
        let (parent, name) = s.names.split(dir).ok_or(io::ErrorKind::NotFound)?;
        s.dir_op(DirOp::Unlink { dir: parent, name });
        Ok(())
    }

    fn entry(&self, path: &Path) -> io::Result<Option<EntryKind>> {
        let s = self.state();
        s.check_boot(self.boot)?;
        Ok(match s.names.resolve(path) {
            Some(Node::File(_)) => Some(EntryKind::File),
            Some(Node::Dir(_)) => Some(EntryKind::Dir),
            None => None,
        })
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Box<dyn Send + Sync>> {
        let mut s = self.state();
        s.check_boot(self.boot)?;
        if !s.locked.insert(dir.to_path_buf()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(Box::new(LockGuard {
            fs: self.clone(),
            dir: dir.to_path_buf(),
        }))
    }
}

/// A random workload over a space on a [`SimFs`], the record of what it asked and what was
/// acknowledged, and the check of a reopened space against that record.
pub mod workload {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use spacestore::{
        AclRecord, AddSeqCounter, Cursor, Durability, Error, HeadEntry, HeadUpdate, Id,
        IterOptions, Options, Space, SpacePayload, State, StorageChange, TreeRoot,
    };

    use super::{Rng, SimFs};

    /// Changes `ids`, the `j`-th with order id `base + j` (six digits) and `payload(base + j)`.
    fn numbered(
        ids: &[String],
        base: usize,
        payload: impl Fn(usize) -> Vec<u8>,
    ) -> Vec<StorageChange> {
        let change = |(j, id): (usize, &String)| {
            StorageChange::new(id.as_str(), format!("{:06}", base + j), payload(base + j))
        };
        ids.iter().enumerate().map(change).collect()
    }

    /// The space directory inside the simulated file system.
    pub fn dir() -> PathBuf {
        PathBuf::from("/sim/space")
    }

    /// How the space is opened.
    #[derive(Clone, Copy, Debug)]
    pub struct Config {
        /// `Buffered` or `Sync`.
        pub durability: Durability,
        /// Segment size limit (small ones make the log roll).
        pub segment_size: u64,
        /// Seqs per reservation (small ones make reservations frequent).
        pub reserve_ahead: u64,
        /// Automatic checkpoints: (factor, minimum bytes).
        pub auto_checkpoint: Option<(u64, u64)>,
    }

    impl Config {
        /// The options for `fs`.
        pub fn options(&self, fs: &SimFs) -> Options {
            let (factor, min) = match self.auto_checkpoint {
                Some((f, m)) => (Some(f), m),
                None => (None, 0),
            };
            Options::default()
                .durability(self.durability)
                .segment_size(self.segment_size)
                .reserve_ahead(self.reserve_ahead)
                .auto_checkpoint(factor, min)
                // Every call on the calling thread, in a fixed order (fault injection counts
                // calls).
                .background_checkpoints(false)
                .bytes_per_sync(None)
                .file_system(fs.arc())
        }
    }

    /// One step of a workload.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Step {
        /// Creates tree `t{n}`.
        CreateTree(u8),
        /// A batch of `changes` changes of `size` bytes each on tree `t{tree}`; the tree's heads
        /// become its last change.
        Batch {
            /// The tree.
            tree: u8,
            /// Changes in the batch (at least 1).
            changes: u8,
            /// Bytes of each change.
            size: u16,
        },
        /// Creates a new head entry `e{n}` (n counts these steps).
        PutEntry,
        /// Deletes the `n`th head entry created (if it exists and is not deleted yet).
        DeleteEntry(u8),
        /// Deletes tree `t{n}` (its changes go; its head entry stays).
        DeleteTree(u8),
        /// Creates named cursor `k{n}` (`Space::cursor`).
        CreateCursor(u8),
        /// Acknowledges the counter's value on cursor `k{n}` (created before).
        Ack(u8),
        /// Resets cursor `k{n}` (created before) to half its position.
        ResetCursor(u8),
        /// Deletes cursor `k{n}` (created before).
        DeleteCursor(u8),
        /// Makes the space whole (`Space::create_space`): state, ACL root `acl`, settings tree
        /// `settings`.
        CreateSpace,
        /// Adds `records` ACL records (1 or more) `a{n}`, each's order `n + 2`.
        AddAcl(u8),
        /// Sets the state's hash to `h{n}` (n counts events).
        SetHash,
        /// A batch of `n` changes `g{k}` on tree `m0` through a storage with a counter of its
        /// own (the driver's, a migration's: its batches are not in the feed); the first one
        /// creates the tree (a deferred storage).
        MigratedBatch(u8),
        /// `Space::checkpoint`.
        Checkpoint,
        /// `Space::sync`.
        Sync,
        /// Drops the space (a clean close) and opens it again.
        Reopen,
        /// Kills the process (no close; what was written stays in the page cache) and opens
        /// the space again.
        CrashReopen,
    }

    /// A random configuration.
    pub fn config(rng: &mut Rng, durability: Durability) -> Config {
        Config {
            durability,
            segment_size: [200, 600, 4096, 64 << 20][rng.below(4) as usize],
            reserve_ahead: [1, 3, 1 << 20][rng.below(3) as usize],
            auto_checkpoint: if rng.chance(1, 3) {
                Some((2, 1500))
            } else {
                None
            },
        }
    }

    /// A random workload of about `len` steps: only steps that succeed on a healthy file system.
    /// `crashes`: whether it may kill the process and restart ([`Step::CrashReopen`]).
    pub fn steps(rng: &mut Rng, len: usize, crashes: bool) -> Vec<Step> {
        let mut out = vec![Step::CreateTree(0)];
        let mut trees = vec![true]; // live?
        let mut entries = Vec::new(); // live?
        let mut cursors = [false; 2]; // live?
        let mut whole = false;
        while out.len() < len {
            if rng.chance(1, 14) {
                out.push(Step::MigratedBatch(1 + rng.below(2) as u8));
                continue;
            }
            if rng.chance(1, 10) {
                out.push(match (whole, rng.below(2)) {
                    (false, _) => {
                        whole = true;
                        Step::CreateSpace
                    }
                    (true, 0) => Step::AddAcl(1 + rng.below(2) as u8),
                    (true, _) => Step::SetHash,
                });
                continue;
            }
            let live: Vec<u8> = (0..trees.len() as u8)
                .filter(|&t| trees[t as usize])
                .collect();
            let roll = rng.below(100);
            let step = if roll < 50 && !live.is_empty() {
                Step::Batch {
                    tree: live[rng.below(live.len() as u64) as usize],
                    changes: 1 + rng.below(3) as u8,
                    size: [1, 40, 150, 400][rng.below(4) as usize],
                }
            } else if roll < 58 {
                if trees.len() >= 4 {
                    continue;
                }
                trees.push(true);
                Step::CreateTree(trees.len() as u8 - 1)
            } else if roll < 70 {
                entries.push(true);
                Step::PutEntry
            } else if roll < 76 {
                let live_entries: Vec<usize> = (0..entries.len()).filter(|&e| entries[e]).collect();
                if live_entries.is_empty() {
                    continue;
                }
                let e = live_entries[rng.below(live_entries.len() as u64) as usize];
                entries[e] = false;
                Step::DeleteEntry(e as u8)
            } else if roll < 79 {
                if live.len() < 2 {
                    continue;
                }
                let t = live[rng.below(live.len() as u64) as usize];
                trees[t as usize] = false;
                Step::DeleteTree(t)
            } else if roll < 84 {
                let k = rng.below(2) as u8;
                let live = &mut cursors[k as usize];
                if !*live {
                    *live = true;
                    Step::CreateCursor(k)
                } else {
                    match rng.below(8) {
                        0 => {
                            *live = false;
                            Step::DeleteCursor(k)
                        }
                        1 => Step::ResetCursor(k),
                        _ => Step::Ack(k),
                    }
                }
            } else if roll < 88 {
                Step::Checkpoint
            } else if roll < 93 {
                Step::Sync
            } else if roll < 96 || !crashes {
                Step::Reopen
            } else {
                Step::CrashReopen
            };
            out.push(step);
        }
        out
    }

    /// What a logged write does to the state.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum EventKind {
        /// A tree was created.
        Tree(String),
        /// A batch: tree, change ids (the last one becomes the head).
        Batch(String, Vec<String>),
        /// A head entry was created with heads `[marker]`.
        Entry(String, String),
        /// A head entry was deleted.
        EntryDeleted(String),
        /// A tree was deleted.
        TreeDeleted(String),
        /// A named cursor was created (at 0) or set to a position.
        Cursor(String, u64),
        /// A named cursor was deleted.
        CursorDeleted(String),
        /// The space was made whole.
        Space,
        /// ACL records were added (ids, in order; the last becomes the list's head).
        Acl(Vec<String>),
        /// The state's hash was set.
        Hash(String),
        /// A batch of a counter of its own on tree `m0` (change ids; the last becomes the head).
        Migrated(Vec<String>),
    }

    /// A write that was attempted (one record, if it reached the log).
    #[derive(Clone, Debug)]
    pub struct Event {
        /// What it does.
        pub kind: EventKind,
        /// Whether the call returned `Ok`.
        pub acked: bool,
        /// The AddSeq it returned (batches).
        pub seq: Option<u64>,
    }

    /// What a step did.
    #[derive(Debug)]
    pub struct Outcome {
        /// The step's result.
        pub result: Result<(), Error>,
        /// The event it attempted, if it writes (index in [`Driver::events`]).
        pub event: Option<usize>,
    }

    /// Runs steps against a space on a [`SimFs`] and records what was asked and acknowledged.
    pub struct Driver {
        /// The file system handle the space was opened with.
        pub fs: SimFs,
        /// The configuration.
        pub config: Config,
        /// The open space (`None` after a reopen that failed).
        pub space: Option<Space>,
        /// Every write attempted, in order.
        pub events: Vec<Event>,
        /// The highest counter value seen (seqs handed out, also by failed batches).
        pub max_counter: u64,
        /// Events before this index were made durable by a successful sync, checkpoint or
        /// clean reopen.
        pub durable_floor: usize,
        entries: usize,
        change_no: usize,
        acl_no: usize,
        /// The counter of the migrated tree's batches (the caller's, as a migration's).
        migration: AddSeqCounter,
    }

    impl Driver {
        /// Opens the space on `fs`.
        pub fn open(fs: &SimFs, config: Config) -> Result<Driver, Error> {
            let space = Space::create(dir(), config.options(fs))?;
            Ok(Driver::with_space(fs, config, space))
        }

        /// A driver for a space already open on `fs`.
        pub fn with_space(fs: &SimFs, config: Config, space: Space) -> Driver {
            let max_counter = space.add_seq();
            Driver {
                fs: fs.clone(),
                config,
                space: Some(space),
                events: Vec::new(),
                max_counter,
                durable_floor: 0,
                entries: 0,
                change_no: 0,
                acl_no: 0,
                migration: AddSeqCounter::detached(),
            }
        }

        /// A driver whose space is not open yet (its first step opens it).
        pub fn unopened(fs: &SimFs, config: Config) -> Driver {
            Driver {
                fs: fs.clone(),
                config,
                space: None,
                events: Vec::new(),
                max_counter: 0,
                durable_floor: 0,
                entries: 0,
                change_no: 0,
                acl_no: 0,
                migration: AddSeqCounter::detached(),
            }
        }

        fn push(&mut self, kind: EventKind) -> usize {
            self.events.push(Event {
                kind,
                acked: false,
                seq: None,
            });
            self.events.len() - 1
        }

        /// Runs one step. Without an open space (a reopen failed) it tries to open first.
        pub fn step(&mut self, step: &Step) -> Outcome {
            if self.space.is_none() {
                match Space::create(dir(), self.config.options(&self.fs)) {
                    Ok(space) => self.space = Some(space),
                    Err(e) => {
                        return Outcome {
                            result: Err(e),
                            event: None,
                        }
                    }
                }
            }
            let space = self.space.clone().expect("open");
            let mut event = None;
            let result = match step {
                Step::CreateTree(t) => {
                    let id = format!("t{t}");
                    let e = self.push(EventKind::Tree(id.clone()));
                    event = Some(e);
                    space
                        .create_tree_storage(TreeRoot::new(id.as_str(), id.clone().into_bytes()))
                        .map(|_| self.events[e].acked = true)
                }
                Step::Batch {
                    tree,
                    changes,
                    size,
                } => {
                    let tree_id = format!("t{tree}");
                    let base = self.change_no;
                    self.change_no += *changes as usize;
                    let ids: Vec<String> = (0..*changes as usize)
                        .map(|j| format!("c{}", base + j))
                        .collect();
                    let e = self.push(EventKind::Batch(tree_id.clone(), ids.clone()));
                    event = Some(e);
                    let batch = numbered(&ids, base, |k| vec![k as u8; *size as usize]);
                    space.tree_storage(&tree_id).and_then(|t| {
                        t.add_all(batch, [ids.last().unwrap().as_str()], tree_id.as_str())
                            .map(|seq| {
                                self.events[e].acked = true;
                                self.events[e].seq = Some(seq);
                            })
                    })
                }
                Step::PutEntry => {
                    let id = format!("e{}", self.entries);
                    self.entries += 1;
                    let marker = format!("m{}", self.events.len());
                    let e = self.push(EventKind::Entry(id.clone(), marker.clone()));
                    event = Some(e);
                    space
                        .head_storage()
                        .update_entry(HeadUpdate::new(id).heads([marker]))
                        .map(|_| self.events[e].acked = true)
                }
                Step::DeleteEntry(n) => {
                    let id = format!("e{n}");
                    let e = self.push(EventKind::EntryDeleted(id.clone()));
                    event = Some(e);
                    space
                        .head_storage()
                        .delete_entry(&id)
                        .map(|_| self.events[e].acked = true)
                }
                Step::DeleteTree(t) => {
                    let id = format!("t{t}");
                    let e = self.push(EventKind::TreeDeleted(id.clone()));
                    event = Some(e);
                    space
                        .tree_storage(&id)
                        .and_then(|t| t.delete())
                        .map(|_| self.events[e].acked = true)
                }
                Step::CreateCursor(k) => {
                    let name = format!("k{k}");
                    let e = self.push(EventKind::Cursor(name.clone(), 0));
                    event = Some(e);
                    space.cursor(&name).map(|_| self.events[e].acked = true)
                }
                Step::Ack(k) | Step::ResetCursor(k) => {
                    let name = format!("k{k}");
                    space.cursor(&name).and_then(|cursor| {
                        let (seq, set) = if matches!(step, Step::Ack(_)) {
                            (
                                space.add_seq(),
                                Cursor::ack as fn(&Cursor, u64) -> Result<(), Error>,
                            )
                        } else {
                            (
                                cursor.get() / 2,
                                Cursor::reset as fn(&Cursor, u64) -> Result<(), Error>,
                            )
                        };
                        let e = self.push(EventKind::Cursor(name.clone(), seq));
                        event = Some(e);
                        set(&cursor, seq).map(|()| self.events[e].acked = true)
                    })
                }
                Step::DeleteCursor(k) => {
                    let name = format!("k{k}");
                    let e = self.push(EventKind::CursorDeleted(name.clone()));
                    event = Some(e);
                    space
                        .delete_cursor(&name)
                        .map(|_| self.events[e].acked = true)
                }
                Step::CreateSpace => {
                    let e = self.push(EventKind::Space);
                    event = Some(e);
                    let payload = SpacePayload::new(
                        "space.1",
                        b"header".to_vec(),
                        "acl",
                        b"acl root".to_vec(),
                        TreeRoot::new("settings", b"settings root".to_vec()),
                    );
                    space
                        .create_space(payload)
                        .map(|()| self.events[e].acked = true)
                }
                Step::AddAcl(n) => {
                    let base = self.acl_no;
                    self.acl_no += *n as usize;
                    let id = |k: usize| format!("a{k}");
                    let ids: Vec<String> = (base..base + *n as usize).map(id).collect();
                    let e = self.push(EventKind::Acl(ids.clone()));
                    event = Some(e);
                    let records = (base..base + *n as usize).map(|k| {
                        let prev = if k == 0 { "acl".to_owned() } else { id(k - 1) };
                        AclRecord::new(id(k), prev, k as u64 + 2, vec![k as u8; 30])
                    });
                    space
                        .acl_storage()
                        .and_then(|acl| acl.add_all(records))
                        .map(|()| self.events[e].acked = true)
                }
                Step::SetHash => {
                    let hash = format!("h{}", self.events.len());
                    let e = self.push(EventKind::Hash(hash.clone()));
                    event = Some(e);
                    space
                        .state_storage()
                        .and_then(|state| state.set_hash(hash))
                        .map(|()| self.events[e].acked = true)
                }
                Step::MigratedBatch(n) => {
                    let base = self.change_no;
                    self.change_no += *n as usize;
                    let ids: Vec<String> = (base..base + *n as usize)
                        .map(|k| format!("g{k}"))
                        .collect();
                    let e = self.push(EventKind::Migrated(ids.clone()));
                    event = Some(e);
                    let batch = numbered(&ids, base, |_| vec![9u8; 30]);
                    let tree = match space.tree_storage("m0") {
                        Ok(tree) => Ok(tree),
                        Err(Error::UnknownTree(_)) => space.create_storage_with_deferred_creation(
                            TreeRoot::new("m0", b"migrated".to_vec()),
                        ),
                        Err(e) => Err(e),
                    };
                    tree.and_then(|t| {
                        t.with_counter(self.migration.clone())
                            .add_all(batch, [ids.last().unwrap().as_str()], "m0")
                            .map(|seq| {
                                self.events[e].acked = true;
                                self.events[e].seq = Some(seq);
                            })
                    })
                }
                Step::Checkpoint => space.checkpoint().map(|_| {
                    self.durable_floor = self.events.len();
                }),
                Step::Sync => space.sync().map(|_| {
                    self.durable_floor = self.events.len();
                }),
                Step::CrashReopen => {
                    self.fs = self.fs.kill_process();
                    drop(space);
                    self.space = None;
                    match Space::create(dir(), self.config.options(&self.fs)) {
                        Ok(s) => {
                            self.space = Some(s);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Step::Reopen => {
                    drop(space);
                    self.space = None;
                    match Space::create(dir(), self.config.options(&self.fs)) {
                        Ok(s) => {
                            self.space = Some(s);
                            self.durable_floor = self.events.len();
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if let Some(space) = &self.space {
                self.max_counter = self.max_counter.max(space.add_seq());
            }
            Outcome { result, event }
        }
    }

    /// Everything a reader can see of a space.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Dump {
        /// Every change after seq 0, in AddSeq order.
        pub changes: Vec<StorageChange>,
        /// Every head entry (deleted or not), by id.
        pub entries: Vec<HeadEntry>,
        /// Live trees.
        pub trees: usize,
        /// The named cursors.
        pub cursors: Vec<(Id, u64)>,
        /// A whole space's state.
        pub state: Option<State>,
        /// A whole space's ACL list, by order.
        pub acl: Vec<AclRecord>,
        /// The migrated tree's changes (not in the feed), by order id.
        pub migrated: Vec<StorageChange>,
    }

    /// What `space` shows.
    pub fn dump(space: &Space) -> Dump {
        let hs = space.head_storage();
        let mut entries = hs.collect_entries(IterOptions::default());
        entries.extend(hs.collect_entries(IterOptions::deleted()));
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Dump {
            changes: space.collect_changes_after_add_seq(0),
            entries,
            trees: space.tree_count(),
            cursors: space.cursors(),
            state: space.state_storage().ok().and_then(|s| s.get_state().ok()),
            acl: space
                .acl_storage()
                .map(|acl| acl.collect_after_order(0))
                .unwrap_or_default(),
            migrated: space
                .tree_storage("m0")
                .map(|t| t.collect_after_add_seq(0))
                .unwrap_or_default(),
        }
    }

    /// The state after the first `p` events (seqs of unacknowledged batches unknown).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Expected {
        trees: BTreeMap<String, bool>,
        /// change id -> (tree, seq if known, batch index)
        changes: BTreeMap<String, (String, Option<u64>, usize)>,
        /// head entry id -> heads
        heads: BTreeMap<String, Vec<String>>,
        /// cursor name -> position
        cursors: BTreeMap<String, u64>,
        /// Whether the space is whole, and its hash.
        whole: bool,
        hash: String,
        /// The ACL list's record ids, by order.
        acl: Vec<String>,
        /// The migrated tree's changes: id, seq if known.
        migrated: Vec<(String, Option<u64>)>,
    }

    fn expected(events: &[Event], p: usize) -> Expected {
        let mut x = Expected::default();
        for (i, e) in events[..p].iter().enumerate() {
            match &e.kind {
                EventKind::Tree(t) => {
                    x.trees.insert(t.clone(), true);
                    x.heads.insert(t.clone(), vec![t.clone()]);
                }
                EventKind::Batch(t, ids) => {
                    for id in ids {
                        x.changes.insert(id.clone(), (t.clone(), e.seq, i));
                    }
                    x.heads.insert(t.clone(), vec![ids.last().unwrap().clone()]);
                }
                EventKind::Entry(id, marker) => {
                    x.heads.insert(id.clone(), vec![marker.clone()]);
                }
                EventKind::EntryDeleted(id) => {
                    x.heads.remove(id);
                }
                EventKind::TreeDeleted(t) => {
                    x.trees.insert(t.clone(), false);
                    x.changes.retain(|_, (tree, _, _)| tree != t);
                }
                EventKind::Cursor(name, seq) => {
                    x.cursors.insert(name.clone(), *seq);
                }
                EventKind::CursorDeleted(name) => {
                    x.cursors.remove(name);
                }
                EventKind::Space => {
                    x.whole = true;
                    x.acl.push("acl".into());
                    x.heads.insert("acl".into(), vec!["acl".into()]);
                    x.trees.insert("settings".into(), true);
                    x.heads.insert("settings".into(), vec!["settings".into()]);
                }
                EventKind::Acl(ids) => {
                    x.acl.extend(ids.iter().cloned());
                    x.heads
                        .insert("acl".into(), vec![ids.last().unwrap().clone()]);
                }
                EventKind::Hash(hash) => x.hash = hash.clone(),
                EventKind::Migrated(ids) => {
                    if !x.trees.contains_key("m0") {
                        x.trees.insert("m0".into(), true);
                    }
                    x.migrated.extend(ids.iter().map(|id| (id.clone(), e.seq)));
                    x.heads
                        .insert("m0".into(), vec![ids.last().unwrap().clone()]);
                }
            }
        }
        x
    }

    /// Whether `space` shows exactly the state after the first `p` events; why not otherwise.
    fn matches(space: &Space, d: &Dump, events: &[Event], p: usize) -> Result<(), String> {
        let x = expected(events, p);
        let mut seen: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for c in &d.changes {
            seen.insert(c.id.to_string(), (c.tree_id.to_string(), c.add_seq));
        }
        if seen.len() != x.changes.len() || !seen.keys().eq(x.changes.keys()) {
            let extra: Vec<_> = seen
                .keys()
                .filter(|k| !x.changes.contains_key(*k))
                .collect();
            let missing: Vec<_> = x
                .changes
                .keys()
                .filter(|k| !seen.contains_key(*k))
                .collect();
            return Err(format!(
                "changes differ: extra {extra:?}, missing {missing:?}"
            ));
        }
        // Seqs: acknowledged ones exact; one seq per batch; increasing with the batch order.
        let mut batch_seq: BTreeMap<usize, u64> = BTreeMap::new();
        for (id, (tree, seq, batch)) in &x.changes {
            let (t, s) = &seen[id];
            if t != tree {
                return Err(format!("change {id} in tree {t}, expected {tree}"));
            }
            if let Some(seq) = seq {
                if s != seq {
                    return Err(format!("change {id} has seq {s}, acknowledged {seq}"));
                }
            }
            if let Some(other) = batch_seq.insert(*batch, *s) {
                if other != *s {
                    return Err(format!("batch {batch} has seqs {other} and {s}"));
                }
            }
        }
        let seqs: Vec<u64> = batch_seq.values().copied().collect();
        if seqs.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("batch seqs not increasing in log order: {seqs:?}"));
        }
        for (t, live) in &x.trees {
            if space.tree_storage(t).is_ok() != *live {
                return Err(format!("tree {t}: expected live = {live}"));
            }
        }
        let heads: BTreeMap<String, Vec<String>> = d
            .entries
            .iter()
            .map(|e| {
                (
                    e.id.to_string(),
                    e.heads.iter().map(|h| h.to_string()).collect(),
                )
            })
            .collect();
        if heads != x.heads {
            return Err(format!(
                "head entries differ: seen {heads:?}, expected {:?}",
                x.heads
            ));
        }
        let cursors: BTreeMap<String, u64> = d
            .cursors
            .iter()
            .map(|(name, seq)| (name.to_string(), *seq))
            .collect();
        if cursors != x.cursors {
            return Err(format!(
                "cursors differ: seen {cursors:?}, expected {:?}",
                x.cursors
            ));
        }
        let state = d.state.as_ref().map(|s| s.new_hash.to_string());
        let expected_state = x.whole.then(|| x.hash.clone());
        if state != expected_state {
            return Err(format!(
                "states differ: seen hash {state:?}, expected {expected_state:?}"
            ));
        }
        let migrated: Vec<String> = d.migrated.iter().map(|c| c.id.to_string()).collect();
        let expected_migrated: Vec<String> = x.migrated.iter().map(|(id, _)| id.clone()).collect();
        if migrated != expected_migrated {
            return Err(format!(
                "migrated changes differ: seen {migrated:?}, expected {expected_migrated:?}"
            ));
        }
        for (c, (id, seq)) in d.migrated.iter().zip(&x.migrated) {
            if seq.is_some_and(|s| s != c.add_seq) {
                return Err(format!(
                    "migrated change {id} has seq {}, acknowledged {seq:?}",
                    c.add_seq
                ));
            }
        }
        let acl: Vec<String> = d.acl.iter().map(|r| r.id.to_string()).collect();
        if acl != x.acl {
            return Err(format!(
                "ACL lists differ: seen {acl:?}, expected {:?}",
                x.acl
            ));
        }
        Ok(())
    }

    /// Checks a space reopened after a power cut against what the driver recorded: the state is
    /// exactly that of a prefix of the attempted writes (no half write, no later write without
    /// an earlier one), which holds every write made durable by a sync, checkpoint or clean
    /// reopen, and in `Sync` mode every acknowledged write; the counter is at or above every seq
    /// handed out. Returns the prefix length.
    pub fn check_recovered(space: &Space, driver: &Driver) -> Result<usize, String> {
        let d = dump(space);
        let events = &driver.events;
        let mut floor = driver.durable_floor;
        if driver.config.durability == Durability::Sync {
            if let Some(last) = events.iter().rposition(|e| e.acked) {
                floor = floor.max(last + 1);
            }
        }
        let mut why = Vec::new();
        let mut found = None;
        for p in (0..=events.len()).rev() {
            match matches(space, &d, events, p) {
                Ok(()) => {
                    found = Some(p);
                    break;
                }
                Err(e) => why.push(format!("prefix {p}: {e}")),
            }
        }
        let Some(p) = found else {
            return Err(format!(
                "the recovered state is no prefix of the writes (a half or out-of-order write):\n  {}",
                why.iter().rev().take(3).cloned().collect::<Vec<_>>().join("\n  ")
            ));
        };
        if p < floor {
            return Err(format!(
                "lost durable writes: recovered the first {p} writes, {floor} were durable \
                 ({:?} mode)",
                driver.config.durability
            ));
        }
        if space.add_seq() < driver.max_counter {
            return Err(format!(
                "counter went back: {} after recovery, {} handed out before",
                space.add_seq(),
                driver.max_counter
            ));
        }
        Ok(p)
    }

    /// After a recovery: a new batch takes a seq above every seq handed out before, and a clean
    /// reopen shows exactly what the space showed.
    pub fn check_continues(
        fs: &SimFs,
        config: Config,
        space: Space,
        max_counter: u64,
    ) -> Result<(), String> {
        let tree = match space.tree_storage("t0") {
            Ok(t) => t,
            Err(_) => space
                .create_tree_storage(TreeRoot::new("t0", b"t0".to_vec()))
                .or_else(|_| space.create_tree_storage(TreeRoot::new("fresh", b"f".to_vec())))
                .map_err(|e| format!("creating a tree after recovery: {e}"))?,
        };
        let seq = tree
            .add_all(
                vec![StorageChange::new("after", "999999", b"after".to_vec())],
                ["after"],
                tree.id().clone(),
            )
            .map_err(|e| format!("a write after recovery failed: {e}"))?;
        if seq <= max_counter {
            return Err(format!(
                "seq {seq} handed out after recovery; {max_counter} had been handed out before"
            ));
        }
        let before = dump(&space);
        let counter = space.add_seq();
        drop(tree);
        drop(space);
        let again = Space::create(dir(), config.options(fs))
            .map_err(|e| format!("reopening after recovery: {e}"))?;
        let after = dump(&again);
        if before != after {
            return Err(format!(
                "memory and disk disagree: before the reopen {before:?}, after {after:?}"
            ));
        }
        if again.add_seq() < counter {
            return Err(format!(
                "counter went back across a clean reopen: {} -> {}",
                counter,
                again.add_seq()
            ));
        }
        Ok(())
    }

    /// One power-cut scenario: runs `steps` on a fresh [`SimFs`], cutting the power during
    /// mutating call `cut` (counted from the first open; after the last step when the workload
    /// makes fewer calls), reboots with `tear` (random choices from `rng`), optionally cuts again
    /// during the recovery's own calls (`recovery_cut` calls into the next open) and reboots,
    /// then checks the recovered space ([`check_recovered`], [`check_continues`]). `trace`:
    /// record the calls (returned with the error). Returns why it failed.
    pub fn power_cut_scenario(
        rng: &mut Rng,
        config: Config,
        steps: &[Step],
        cut: u64,
        tear: super::Tear,
        recovery_cut: Option<u64>,
        trace: bool,
    ) -> Result<(), String> {
        let fs = SimFs::new();
        if trace {
            fs.enable_trace();
        }
        let with_trace = |why: String, fs: &SimFs| {
            if trace {
                format!("{why}\n calls: {:?}", fs.trace())
            } else {
                why
            }
        };
        fs.cut_power_at(cut);
        let mut driver = match Driver::open(&fs, config) {
            Ok(d) => d,
            // The cut hit the very first open: nothing was acknowledged.
            Err(_) if fs.power_is_off() => Driver::unopened(&fs, config),
            Err(e) => return Err(format!("first open failed: {e}")),
        };
        for step in steps {
            if fs.power_is_off() {
                break;
            }
            let out = driver.step(step);
            if let Err(e) = &out.result {
                if !fs.power_is_off() {
                    return Err(with_trace(
                        format!("{step:?} failed with the power on: {e}"),
                        &fs,
                    ));
                }
            }
        }
        if !fs.power_is_off() {
            fs.cut_power();
        }
        let mut fs = fs.reboot(tear, rng);
        drop(driver.space.take());
        if let Some(k) = recovery_cut {
            fs.cut_power_at(k);
            if let Ok(space) = Space::create(dir(), config.options(&fs)) {
                // The recovery finished before the cut: cut now, with the space open.
                fs.cut_power();
                drop(space);
            }
            fs = fs.reboot(tear, rng);
        }
        let space = match Space::create(dir(), config.options(&fs)) {
            Ok(space) => space,
            Err(e) => {
                return Err(with_trace(
                    format!("open after the power cut failed: {e}"),
                    &fs,
                ))
            }
        };
        check_recovered(&space, &driver).map_err(|e| with_trace(e, &fs))?;
        check_continues(&fs, config, space, driver.max_counter).map_err(|e| with_trace(e, &fs))
    }
}
