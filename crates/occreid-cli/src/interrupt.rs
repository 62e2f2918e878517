//! SIGINT / SIGTERM while training: the first one asks the engine to stop after the current step (it
//! writes a resumable checkpoint there and the command exits with 130 / 143, as a shell reports a
//! signal); a second one exits at once, leaving the last complete checkpoint as it was (checkpoints are
//! written atomically).
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The flag the engine reads: 0 while running, then the exit status the first signal asks for.
pub fn flag() -> std::io::Result<Arc<AtomicUsize>> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    if let Some(f) = FLAG.get() {
        return Ok(f.clone());
    }
    let code = Arc::new(AtomicUsize::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    for (signal, status) in [(SIGINT, 130), (SIGTERM, 143)] {
        // In this order: the exit only happens when `stopping` was already set by an earlier signal.
        flag::register_conditional_shutdown(signal, status, stopping.clone())?;
        flag::register_usize(signal, code.clone(), status as usize)?;
        flag::register(signal, stopping.clone())?;
    }
    Ok(FLAG.get_or_init(|| code).clone())
}
