//! SIGINT / SIGTERM while training or extracting a gallery: the first one asks the work to stop after the
//! current step or batch (training writes a resumable checkpoint there, extraction its rows as a shard)
//! and the command exits with 130 / 143, as a shell reports a signal; a second one exits at once, leaving
//! the last complete checkpoint or shard as it was (both are written atomically).
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

/// A command other than training (whose engine has its own error) stopped by a signal: `code` is the exit
/// status the signal asks for, `kept` what is on disk and how to go on.
#[derive(Debug)]
pub struct Stopped {
    pub code: usize,
    pub kept: String,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted: {}", self.kept)
    }
}

impl std::error::Error for Stopped {}
