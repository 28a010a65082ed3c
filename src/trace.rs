//! Events through `tracing` when the `tracing` feature is on, nothing otherwise: every call
//! site uses these macros, which expand to nothing (their arguments unevaluated) without it.

/// An event at info level (what an open or a checkpoint did).
macro_rules! info_event {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        ::tracing::info!(target: "spacestore", $($arg)*);
    };
}

/// An event at warn level (a failure the space goes on after, or one that stops its writes).
macro_rules! warn_event {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        ::tracing::warn!(target: "spacestore", $($arg)*);
    };
}

/// An event at debug level (a new segment).
macro_rules! debug_event {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        ::tracing::debug!(target: "spacestore", $($arg)*);
    };
}

/// Enters an info-level span (target `spacestore`) until the end of the enclosing block: every
/// event inside carries it. Nothing without the feature.
macro_rules! info_span {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        let _span = ::tracing::info_span!(target: "spacestore", $($arg)*).entered();
    };
}

pub(crate) use {debug_event, info_event, info_span, warn_event};
