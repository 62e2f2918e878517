//! One writer per run folder: an advisory lock (`flock`) on `<run>/.lock`, held while the process lives.
//! The kernel releases it when the process ends, however it ends, so a killed run never leaves a lock
//! that blocks its resume; the file keeps the holder's PID for the message a second writer gets. Holding
//! the folder alone, the new writer removes the temporary files of writes a killed process left unfinished.
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
    dir: PathBuf,
    /// The folder did not exist before: a start that fails before writing anything leaves none behind.
    created: bool,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let only_the_lock = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().all(|e| e.file_name() == LOCK_FILE))
            .unwrap_or(false);
        if self.created && only_the_lock {
            let _ = std::fs::remove_file(self.dir.join(LOCK_FILE));
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

impl RunLock {
    /// Locks `dir` (created when missing) for this process, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let created = !dir.exists();
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
        remove_unfinished_writes(dir);
        Ok(Self {
            _file: file,
            dir: dir.to_path_buf(),
            created,
        })
    }
}

/// Deletes `.<name>.tmp-<pid>-<n>` files (occreid-eval's atomic writer) left by a process killed while
/// writing: a killed checkpoint write would otherwise leave a checkpoint-sized file behind each time.
fn remove_unfinished_writes(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") && entry.file_type().is_ok_and(|t| t.is_file()) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed an unfinished write of a stopped run")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove an unfinished write")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let first = RunLock::acquire(&run).unwrap();
        // flock locks belong to the open file: a second open, even in this process, is refused.
        let e = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(
            e.contains("in use") && e.contains(&format!("PID {}", std::process::id())),
            "{e}"
        );
        drop(first);
        // The next writer clears what a killed one left half-written, and nothing else.
        std::fs::write(run.join(".last.ckpt.tmp-4242-0"), b"half").unwrap();
        std::fs::write(run.join("last.ckpt"), b"kept").unwrap();
        RunLock::acquire(&run).unwrap();
        assert!(!run.join(".last.ckpt.tmp-4242-0").exists());
        assert!(run.join("last.ckpt").exists());

        // A folder the lock created and nothing else wrote to (a start that failed) is removed again.
        let fresh = dir.path().join("fresh");
        drop(RunLock::acquire(&fresh).unwrap());
        assert!(!fresh.exists());
    }
}
