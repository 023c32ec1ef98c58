//! Ctrl-C and SIGTERM during `judge grade`: stop starting submissions, end the running ones (and
//! their sandboxes and scratch), print what finished and what did not, exit 130. Nothing already
//! written is lost, and no half-graded submission gets a report.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// From now on SIGINT and SIGTERM set a flag instead of killing the judge.
pub fn install() -> std::io::Result<()> {
    let flag = REQUESTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(flag))?;
    }
    Ok(())
}

/// Whether a stop was asked for (never, unless [`install`] ran).
pub fn requested() -> bool {
    REQUESTED
        .get()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}
