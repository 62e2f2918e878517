//! Progress bars, and the one line above them that a command made of several trainings shows
//! (`occreid demo`: which method of how many, which stage, and the ETA of the whole command).
//!
//! Every bar of the workspace comes from [`bar`]. While an [`Overall`] is active, the overall line is the
//! only one drawn: a bar asked for then is hidden and its label (`epoch 3`, an occlusion setting) shown on
//! the overall line (indicatif's `MultiProgress` left stale copies of its lines in the scrollback at every
//! log line, seen under tmux), and each training step the engine reports through [`training_step_done`] advances the overall line by what a
//! step of that method weighs (the caller's table: methods' steps differ in cost several-fold, and an ETA
//! that counted steps alike would be wrong by as much). Without an `Overall` (every other command), both
//! calls do what a lone bar does.
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

struct Active {
    line: ProgressBar,
    /// Units one training step of each method (registry name) is worth; 1 for any other.
    step_weights: Vec<(String, u64)>,
    part: String,
    stage: String,
    /// The label of the bar last asked for (`epoch 3`).
    detail: String,
    started: Instant,
}

impl Active {
    fn show(&self) {
        let parts: Vec<&str> = [&self.part, &self.stage, &self.detail]
            .into_iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .collect();
        self.line.set_message(parts.join(" · "));
    }
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

fn active() -> std::sync::MutexGuard<'static, Option<Active>> {
    // A panic elsewhere while the lock was held leaves nothing half-updated that a bar could not redraw.
    ACTIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The overall line of a multi-training command, active until dropped.
pub struct Overall(());

impl Overall {
    /// `total` units of work in all, and the units a training step of each method is worth (the caller's
    /// estimate, e.g. milliseconds on some machine: the ETA scales with the rate actually seen).
    pub fn start(total: u64, step_weights: &[(&str, u64)]) -> Self {
        let line = ProgressBar::new(total.max(1));
        line.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {percent:>3}% {msg} · elapsed {elapsed} · eta {eta}")
                .expect("valid template")
                .progress_chars("## "),
        );
        line.set_prefix("overall");
        *active() = Some(Active {
            line,
            step_weights: step_weights.iter().map(|(m, w)| (m.to_string(), *w)).collect(),
            part: String::new(),
            stage: String::new(),
            detail: String::new(),
            started: Instant::now(),
        });
        Overall(())
    }

    /// The part now running (e.g. "method 2 of 3: SDCN + VGN").
    pub fn set_part(&self, part: &str) {
        if let Some(a) = active().as_mut() {
            a.part = part.to_string();
            a.stage.clear();
            a.detail.clear();
            a.show();
        }
    }

    /// Sets the overall position (e.g. to the planned units of the parts finished so far, so that a part
    /// that trained fewer steps than planned does not leave the ETA behind).
    pub fn set_done(&self, units: u64) {
        if let Some(a) = active().as_ref() {
            a.line.set_position(units);
        }
    }

    /// Seconds since [`Overall::start`].
    pub fn elapsed(&self) -> f64 {
        active().as_ref().map_or(0.0, |a| a.started.elapsed().as_secs_f64())
    }
}

impl Drop for Overall {
    fn drop(&mut self) {
        if let Some(a) = active().take() {
            a.line.finish_and_clear();
        }
    }
}

/// Runs `f` (a write to the terminal) with the bars cleared, and redraws them after: without it, a line
/// written while the overall line and a bar are drawn is partly overwritten by their next redraw, or
/// leaves their stale copies in the scrollback. Plain `f()` without an overall line.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    // Not under the lock: `f` may log, and the log writer comes back here.
    let line = active().as_ref().map(|a| a.line.clone());
    match line {
        Some(line) => line.suspend(f),
        None => f(),
    }
}

/// stderr for log lines, with the bars cleared around each ([`suspend`]); tracing's formatter writes an
/// event in one call.
pub struct BarSafeStderr;

impl std::io::Write for BarSafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `println!` that keeps the progress bars intact ([`suspend`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::progress::suspend(|| println!($($arg)*))
    };
}

/// `print!` that keeps the progress bars intact ([`suspend`]).
#[macro_export]
macro_rules! say_raw {
    ($($arg:tt)*) => {
        $crate::progress::suspend(|| print!($($arg)*))
    };
}

/// Names the stage of a multi-stage run on the overall line (no-op without one).
pub fn set_stage(stage: &str) {
    if let Some(a) = active().as_mut() {
        a.stage = stage.to_string();
        a.detail.clear();
        a.show();
    }
}

/// One training step of `method` finished: advances the overall line (no-op without one).
pub fn training_step_done(method: &str) {
    if let Some(a) = active().as_ref() {
        let weight = a.step_weights.iter().find(|(m, _)| m == method).map_or(1, |(_, w)| *w);
        a.line.inc(weight);
    }
}

/// A bar with rate and ETA (hidden when stderr is not a terminal); while an overall line is active, a
/// hidden one, its label shown on the overall line.
pub fn bar(len: u64, label: &str) -> ProgressBar {
    if let Some(a) = active().as_mut() {
        a.detail = label.to_string();
        a.show();
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_steps_advance_the_overall_line_by_the_parts_weight() {
        let overall = Overall::start(100, &[("a", 3), ("b", 5)]);
        overall.set_part("method 1 of 2: A");
        training_step_done("a");
        training_step_done("b");
        training_step_done("unlisted");
        set_stage("stage 1 of 2 (x)");
        assert!(bar(10, "epoch 3").is_hidden(), "one line: the overall one");
        let (pos, message) = {
            let a = active();
            let a = a.as_ref().unwrap();
            (a.line.position(), a.line.message())
        };
        assert_eq!(pos, 9);
        assert_eq!(message, "method 1 of 2: A · stage 1 of 2 (x) · epoch 3");
        overall.set_done(50);
        assert_eq!(active().as_ref().unwrap().line.position(), 50);
        drop(overall);
        assert!(active().is_none());
        training_step_done("a"); // no overall: nothing to advance, no panic
    }
}
