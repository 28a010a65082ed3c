//! Output: lines on stdout (a closed pipe stops the command quietly), progress bars on stderr
//! when it is a terminal, and the formatting of sizes and durations.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::failure::{io_failure, Failure};

/// Writes one line to stdout.
pub fn say(line: fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| io_failure("writing to stdout", &e))
}

/// Whether stdout is a terminal (a person reads it) rather than a pipe or a file.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// A progress bar or spinner on stderr, drawn only when stderr is a terminal.
pub struct Progress(ProgressBar);

fn target() -> Option<ProgressDrawTarget> {
    std::io::stderr()
        .is_terminal()
        .then(ProgressDrawTarget::stderr)
}

impl Progress {
    /// A bar counting `len` items called `unit`.
    pub fn counter(len: u64, unit: &str) -> Progress {
        let Some(target) = target() else {
            return Progress(ProgressBar::hidden());
        };
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} \
             ({{rate}}, {{eta}} left) {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        );
        let bar = ProgressBar::with_draw_target(Some(len), target).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    /// A bar counting `len` bytes, doing `what`.
    pub fn bytes(len: u64, what: &str) -> Progress {
        let Some(target) = target() else {
            return Progress(ProgressBar::hidden());
        };
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{wide_bar}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(len), target).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    /// A spinner for a step with no measure of its own (a replay, a checkpoint).
    pub fn spinner(what: &str) -> Progress {
        let Some(target) = target() else {
            return Progress(ProgressBar::hidden());
        };
        let bar = ProgressBar::with_draw_target(None, target)
            .with_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            )
            .with_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    /// Sets the position.
    pub fn set(&self, pos: u64) {
        self.0.set_position(pos);
    }

    /// Sets the length.
    pub fn set_len(&self, len: u64) {
        self.0.set_length(len);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.0.inc(1);
    }

    /// Sets the message after the bar.
    pub fn message(&self, msg: String) {
        self.0.set_message(msg);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A size in bytes for people: `512 B`, `3.9 KiB`, `12.3 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A duration for people: `850 µs`, `41 ms`, `1.24 s`.
pub fn took(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// `n` per second over `d`, rounded.
pub fn rate(n: u64, d: Duration) -> u64 {
    let secs = d.as_secs_f64();
    if secs <= 0.0 {
        return n;
    }
    (n as f64 / secs).round() as u64
}

/// `1 thing`, `n things` (`n batches`).
pub fn plural(n: impl Into<u64>, thing: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {thing}")
    } else if thing.ends_with("ch") || thing.ends_with('s') {
        format!("{n} {thing}es")
    } else {
        format!("{n} {thing}s")
    }
}
