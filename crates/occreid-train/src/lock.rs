//! One writer per run folder: an advisory lock (`flock`) on `<run>/.lock`, held while the process lives.
//! The kernel releases it when the process ends, however it ends, so a killed run never leaves a lock
//! that blocks its resume; the file keeps the holder's PID for the message a second writer gets.
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

pub const LOCK_FILE: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{dir} is in use by another occreid process (PID {pid}); wait for it to finish or stop it (a \
         stopped or killed process releases the folder, and --resume continues from its last checkpoint)"
    )]
    Busy { dir: PathBuf, pid: String },
    #[error("cannot lock the run folder {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
}

/// Held for as long as the run writes into its folder; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Locks `dir` (created when missing) for this process, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Busy {
                    dir: dir.to_path_buf(),
                    pid: pid.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run).unwrap();
        // flock locks belong to the open file: a second open, even in this process, is refused.
        let e = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(
            e.contains("in use") && e.contains(&format!("PID {}", std::process::id())),
            "{e}"
        );
        drop(first);
        RunLock::acquire(&run).unwrap();
    }
}
