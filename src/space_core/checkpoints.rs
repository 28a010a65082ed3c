//! Checkpoints of a space: [`SpaceCore::checkpoint`] on demand, and automatic ones, written by
//! a worker thread while writes go on (DESIGN.md, "Checkpoints").

use crate::sync::{lock, MutexGuard};
use crate::wal::{CheckpointDone, CheckpointStats};
use crate::{Error, Result};

use super::{Inner, SpaceCore};

impl SpaceCore {
    /// Writes the live state to a new segment and drops the old ones. The state is captured
    /// and the next active segment started under the commit lock (writes wait for that: a sync,
    /// each tree's pointer and batch count, a new segment); the snapshot is written, synced and
    /// renamed into place without it, while writes go on into the new segment. One checkpoint
    /// at a time: a second caller waits for the first. In a `Sync` space queued writes are
    /// synced and published first.
    pub(crate) fn checkpoint(&self) -> Result<Option<CheckpointStats>> {
        let _one = lock(&self.checkpointing);
        // An automatic checkpoint on the worker finishes first.
        self.wait_worker();
        let mut inner = lock(&self.inner);
        self.health.check()?;
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let Some(wal) = inner.wal.as_ref() else {
            return Ok(None);
        };
        let group = wal.group();
        if !inner.queued.is_empty() {
            let synced = group.sync_to(group.written());
            self.publish_queued(&mut inner, group.synced());
            synced?;
        }
        self.run_checkpoint(inner).map(Some)
    }

    /// Begins a checkpoint under the commit lock (`inner`), writes it without the lock, and
    /// accounts for it under the lock again. The caller holds [`SpaceCore::checkpointing`].
    pub(super) fn run_checkpoint(
        &self,
        mut inner: MutexGuard<'_, Inner>,
    ) -> Result<CheckpointStats> {
        crate::trace::info_span!("checkpoint");
        let Some(wal) = inner.wal.as_mut() else {
            return Err(Error::Internal(
                "a checkpoint of a space with no log".into(),
            ));
        };
        let job = wal.begin_checkpoint()?;
        let captured = self.memory.capture();
        drop(inner);
        let done = job.run(&|emit| captured.emit(emit));
        drop(captured);
        let mut inner = lock(&self.inner);
        match inner.wal.as_mut() {
            Some(wal) => wal.finish_checkpoint(done),
            None => Err(Error::Internal(
                "the log went away during a checkpoint".into(),
            )),
        }
    }

    /// Runs an automatic checkpoint now if one is due (at open: a log of many short segments).
    pub(crate) fn checkpoint_if_due(&self) {
        self.maybe_checkpoint(lock(&self.inner));
    }

    /// After a write: runs an automatic checkpoint when the log has grown enough (and no
    /// checkpoint is running), releasing the commit lock while it writes. A failure is not the
    /// write's failure (the write is logged already): a later write tries again, after a
    /// back-off (`Wal::auto_checkpoint_due`).
    pub(super) fn maybe_checkpoint(&self, mut inner: MutexGuard<'_, Inner>) {
        let Some((factor, min_bytes)) = self.auto_checkpoint else {
            return;
        };
        if self.reap_worker(&mut inner) {
            // The worker still runs: no second checkpoint.
            return;
        }
        if !inner.queued.is_empty() {
            return;
        }
        let due = inner
            .wal
            .as_ref()
            .is_some_and(|wal| wal.auto_checkpoint_due(factor, min_bytes));
        if !due {
            return;
        }
        // Another checkpoint is running: this one is not needed.
        let Ok(_one) = self.checkpointing.try_lock() else {
            return;
        };
        if self.background {
            self.start_worker(&mut inner);
            return;
        }
        let result = self.run_checkpoint(inner);
        if let Some(wal) = lock(&self.inner).wal.as_mut() {
            // A failure is counted (`LogStats::auto_checkpoint_failures`) and retried later.
            wal.auto_checkpoint_done(&result);
        }
    }

    /// Begins an automatic checkpoint under the commit lock and hands its writing to a worker
    /// thread ([`SpaceCore::reap_worker`] accounts for it later).
    pub(super) fn start_worker(&self, inner: &mut MutexGuard<'_, Inner>) {
        let Some(wal) = inner.wal.as_mut() else {
            return;
        };
        let job = match wal.begin_checkpoint() {
            Ok(job) => job,
            Err(e) => return wal.auto_checkpoint_done(&Err(e)),
        };
        let captured = self.memory.capture();
        let spawned = std::thread::Builder::new()
            .name("spacestore-checkpoint".into())
            .spawn(move || {
                crate::trace::info_span!("checkpoint", automatic = true);
                job.run(&|emit| captured.emit(emit))
            });
        match spawned {
            Ok(handle) => *lock(&self.worker) = Some(handle),
            Err(source) => wal.auto_checkpoint_done(&Err(Error::Io {
                context: "starting the checkpoint worker",
                source,
            })),
        }
    }

    /// Accounts for the worker's checkpoint if it has finished; returns whether one still runs.
    /// Under the commit lock (`inner`).
    pub(super) fn reap_worker(&self, inner: &mut MutexGuard<'_, Inner>) -> bool {
        let mut worker = lock(&self.worker);
        if worker.as_ref().is_some_and(|h| !h.is_finished()) {
            return true;
        }
        let Some(handle) = worker.take() else {
            return false;
        };
        drop(worker);
        self.account_worker(inner, join_worker(handle));
        false
    }

    /// Waits for the worker's checkpoint, if one runs (without the commit lock, so writes go
    /// on meanwhile), and accounts for it.
    pub(super) fn wait_worker(&self) {
        let Some(handle) = lock(&self.worker).take() else {
            return;
        };
        let done = join_worker(handle);
        self.account_worker(&mut lock(&self.inner), done);
    }

    /// Accounts, under the commit lock, for what the worker's checkpoint did.
    pub(super) fn account_worker(
        &self,
        inner: &mut MutexGuard<'_, Inner>,
        done: Result<CheckpointDone>,
    ) {
        if let Some(wal) = inner.wal.as_mut() {
            let result = wal.finish_checkpoint(done);
            // A failure is counted (`LogStats::auto_checkpoint_failures`) and retried later.
            wal.auto_checkpoint_done(&result);
        }
    }
}

/// The worker's outcome (a panic of the worker is an internal error, not a panic here).
pub(super) fn join_worker(
    handle: std::thread::JoinHandle<Result<CheckpointDone>>,
) -> Result<CheckpointDone> {
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::Internal("the checkpoint worker panicked".into())))
}
