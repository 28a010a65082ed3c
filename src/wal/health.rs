//! [`Health`]: the one latch that stops writes once the log can no longer vouch for what it
//! holds (fjall's `PoisonSignal`, redb's `PreviousIo`). Tripped wherever that happens (a failed
//! fsync anywhere, an append that could not be taken back, a segment file that could not be
//! removed); the commit path checks it before every write.

use std::fmt;
use std::io;

use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use crate::{Error, Result};

/// Why a space refuses writes ([`crate::Error::WritesRefused`], [`crate::Space::writes_refused`]).
/// Reads go on; reopening the space recovers from what is on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// An fsync of the log failed: after that the page cache can no longer be trusted
    /// (fsyncgate), so nothing written since can be acknowledged.
    SyncFailed {
        /// What was being synced.
        context: &'static str,
        /// The operating system's error kind.
        kind: io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
    /// A failed append could not be taken back (the file could not be cut to its length
    /// before it): the log's tail is unknown.
    TakeBackFailed {
        /// The operating system's error kind.
        kind: io::ErrorKind,
        /// The operating system's message.
        message: String,
    },
    /// A new segment file could not be written and could not be removed again: a stray file
    /// between two segments would read as corruption.
    StraySegment {
        /// The operating system's message.
        message: String,
    },
}

impl Refusal {
    /// A failed fsync while doing `context`.
    pub(crate) fn sync_failed(context: &'static str, e: &io::Error) -> Refusal {
        Refusal::SyncFailed {
            context,
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::SyncFailed {
                context, message, ..
            } => write!(f, "an fsync of the log failed while {context}: {message}"),
            Refusal::TakeBackFailed { message, .. } => write!(
                f,
                "a failed write to the log could not be taken back: {message}"
            ),
            Refusal::StraySegment { message } => write!(
                f,
                "a new log segment could not be written nor removed again: {message}"
            ),
        }
    }
}

/// The latch: unset until the first [`Health::trip`], then set for good with that reason.
#[derive(Default)]
pub(crate) struct Health {
    /// Read without the lock on every write.
    tripped: AtomicBool,
    why: Mutex<Option<Refusal>>,
}

impl Health {
    /// Stops writes for `why` (the first reason stays).
    pub(crate) fn trip(&self, why: Refusal) {
        let mut w = lock(&self.why);
        if w.is_none() {
            crate::trace::warn_event!(reason = %why, "the space refuses writes from now on (reopen it)");
            *w = Some(why);
        }
        self.tripped.store(true, Ordering::SeqCst);
    }

    /// What a failed fsync becomes, wherever it happens: the latch tripped (the page cache can
    /// no longer be trusted) and the error, both saying `context`.
    pub(crate) fn failed_sync(
        &self,
        context: &'static str,
    ) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| {
            self.trip(Refusal::sync_failed(context, &source));
            Error::Io { context, source }
        }
    }

    /// Why writes are refused, if they are.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        if !self.tripped.load(Ordering::SeqCst) {
            return None;
        }
        lock(&self.why).clone()
    }

    /// Fails with [`Error::WritesRefused`] once tripped.
    pub(crate) fn check(&self) -> Result<()> {
        match self.refusal() {
            Some(why) => Err(Error::WritesRefused(why)),
            None => Ok(()),
        }
    }
}
