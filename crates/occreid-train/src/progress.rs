//! Progress bars, and the one line above them that a command made of several trainings shows
//! (`occreid demo`: which method of how many, which stage, and the ETA of the whole command).
//!
//! Every bar of the workspace comes from [`bar`]. While an [`Overall`] is active, its bars are drawn
//! under the overall line (one indicatif `MultiProgress`) instead of fighting it for the terminal, and each
//! training step the engine reports through [`training_step_done`] advances the overall line by what a
//! step of that method weighs (the caller's table: methods' steps differ in cost several-fold, and an ETA
//! that counted steps alike would be wrong by as much). Without an `Overall` (every other command), both
//! calls do what a lone bar does.
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

struct Active {
    multi: MultiProgress,
    line: ProgressBar,
    /// Units one training step of each method (registry name) is worth; 1 for any other.
    step_weights: Vec<(String, u64)>,
    part: String,
    stage: String,
    started: Instant,
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
        let multi = MultiProgress::new();
        let line = multi.add(ProgressBar::new(total.max(1)));
        line.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {percent:>3}% {msg} · elapsed {elapsed} · eta {eta}")
                .expect("valid template")
                .progress_chars("## "),
        );
        line.set_prefix("overall");
        *active() = Some(Active {
            multi,
            line,
            step_weights: step_weights.iter().map(|(m, w)| (m.to_string(), *w)).collect(),
            part: String::new(),
            stage: String::new(),
            started: Instant::now(),
        });
        Overall(())
    }

    /// The part now running (e.g. "method 2 of 3: SDCN + VGN").
    pub fn set_part(&self, part: &str) {
        if let Some(a) = active().as_mut() {
            a.part = part.to_string();
            a.stage.clear();
            a.line.set_message(part.to_string());
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

/// Names the stage of a multi-stage run on the overall line (no-op without one).
pub fn set_stage(stage: &str) {
    if let Some(a) = active().as_mut() {
        a.stage = stage.to_string();
        a.line.set_message(format!("{} · {stage}", a.part));
    }
}

/// One training step of `method` finished: advances the overall line (no-op without one).
pub fn training_step_done(method: &str) {
    if let Some(a) = active().as_ref() {
        let weight = a.step_weights.iter().find(|(m, _)| m == method).map_or(1, |(_, w)| *w);
        a.line.inc(weight);
    }
}

/// A bar with rate and ETA (hidden when stderr is not a terminal), under the overall line when one is
/// active.
pub fn bar(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    match active().as_ref() {
        Some(a) => a.multi.add(bar),
        None => bar,
    }
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
        let (pos, message) = {
            let a = active();
            let a = a.as_ref().unwrap();
            (a.line.position(), a.line.message())
        };
        assert_eq!(pos, 9);
        assert_eq!(message, "method 1 of 2: A · stage 1 of 2 (x)");
        overall.set_done(50);
        assert_eq!(active().as_ref().unwrap().line.position(), 50);
        drop(overall);
        assert!(active().is_none());
        training_step_done("a"); // no overall: nothing to advance, no panic
    }
}
