//! `spacestore-simfs`: a simulated file system for crash-testing code that writes through
//! spacestore: an in-memory [`FileSystem`] (give it to a space with `Options::file_system`)
//! with fault injection, simulated power loss and process crashes.
//!
//! The quickest use is [`every_power_cut`]: your routine, run with the power cut at each of its
//! file system calls in turn, each [`Tear`] model, and your own check of what a reopened space
//! holds after the reboot (see `examples/power_cut.rs`, run by spacestore's CI).
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
//! and count calls while the space uses another.
//!
//! What it models is the `FileSystem` / `LogFile` contract, not `StdFileSystem`'s internals: of
//! its preallocation (zeros ahead of the data) it models what the trait shows, the fsync an
//! append makes each time the data passes the allocated space (`Op::Fsync`, which can fail:
//! the append then fails with an error marked `FsyncFailed`).
#![warn(missing_docs)]

mod namespace;

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

    /// [`State::enter`] for a call that changes a name or a file's length: a fault is its error;
    /// `Ok(true)` when the power is cut at this call (the change is made, then the call fails,
    /// as a cut lands after the kernel took it); an error when the power is already off.
    fn enter_metadata_op(&mut self, op: Op, boot: u64, path: &Path) -> io::Result<bool> {
        match self.enter(op, boot, Some(path), 0) {
            Ok(fault) => fault_result(fault).map(|()| false),
            Err(true) => Ok(true),
            Err(false) => Err(power_lost()),
        }
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

    /// Whether `needle` appears in the durable bytes (what an fsync covered) of a file whose
    /// name is durable (what a directory sync covered): whether a power cut now would keep it.
    pub fn durable_contains(&self, needle: &[u8]) -> bool {
        let s = self.state();
        s.durable_names.files().into_iter().any(|(_, i)| {
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
        let cut = s.enter_metadata_op(Op::Create, self.boot, path)?;
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
        let cut = s.enter_metadata_op(Op::Truncate, self.boot, path)?;
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
        let cut = s.enter_metadata_op(Op::Remove, self.boot, path)?;
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
        let cut = s.enter_metadata_op(Op::Rename, self.boot, from)?;
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

/// One case of [`every_power_cut`]: where the power went off and what reached the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerCut {
    /// The mutating call (counted from the start of the routine, from 0) during which the
    /// power went off; the routine's own count of calls means no cut (it ran to its end, then
    /// the power went off between two calls).
    pub at: u64,
    /// How much of what was not synced reached the disk.
    pub tear: Tear,
    /// The seed of the tear's randomness (the case replays from `at`, `tear` and `seed`).
    pub seed: u64,
}

/// Crash-tests `routine`: runs it once on a fresh file system to count its mutating calls,
/// then, for each of those calls and for each [`Tear`] model, runs it again on a fresh file
/// system with the power cut during that call, reboots, and hands `check` the rebooted file
/// system, what the routine returned (what it saw acknowledged before the cut: a call that
/// failed because the power was off is its to tolerate) and the case. Returns how many cases
/// ran. `check` asserts what must have survived (open the space on the file system with
/// `Options::file_system(fs.arc())`; acknowledged `Sync` batches must be there, for example).
///
/// ```
/// use spacestore::{Durability, Options, Space, StorageChange, TreeRoot};
/// use spacestore_simfs::{every_power_cut, SimFs};
///
/// let options = |fs: &SimFs| Options::default().durability(Durability::Sync).file_system(fs.arc());
/// let cases = every_power_cut(
///     |fs| {
///         // The routine under test: what it returns is what it saw acknowledged.
///         let Ok(space) = Space::create("/sim/space", options(fs)) else { return Vec::new() };
///         let Ok(tree) = space.create_tree_storage(TreeRoot::new("t", b"root".to_vec())) else {
///             return Vec::new();
///         };
///         let mut acked = Vec::new();
///         for i in 0..3 {
///             let id = format!("c{i}");
///             let change = StorageChange::new(id.as_str(), id.as_str(), b"x".to_vec());
///             if tree.add_all(vec![change], [id.as_str()], "t").is_ok() {
///                 acked.push(id);
///             }
///         }
///         acked
///     },
///     |fs, acked, cut| {
///         // The check after the reboot: every acknowledged batch is there.
///         let space = Space::create("/sim/space", options(fs)).unwrap();
///         for id in acked {
///             let tree = space.tree_storage("t").unwrap();
///             assert!(tree.has(id), "{id} lost at {cut:?}");
///         }
///     },
/// );
/// assert!(cases > 30);
/// ```
pub fn every_power_cut<T>(
    mut routine: impl FnMut(&SimFs) -> T,
    mut check: impl FnMut(&SimFs, &T, PowerCut),
) -> usize {
    let clean = SimFs::new();
    routine(&clean);
    let calls = clean.ops();
    let mut cases = 0;
    for at in 0..=calls {
        for (i, tear) in Tear::ALL.into_iter().enumerate() {
            let fs = SimFs::new();
            fs.cut_power_at(at);
            let acknowledged = routine(&fs);
            let seed = at * Tear::ALL.len() as u64 + i as u64;
            let after = fs.reboot(tear, &mut Rng::new(seed));
            check(&after, &acknowledged, PowerCut { at, tear, seed });
            cases += 1;
        }
    }
    cases
}
