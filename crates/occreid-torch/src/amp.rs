//! fp16 autocast (CUDA mixed precision) for a training step, and float32 regions inside it.
//!
//! tch's `autocast` goes through libtorch's deprecated `at::autocast::{is_enabled, set_enabled}`, each of
//! which prints a C++ deprecation warning at every call: a few lines per call, tens of thousands per run
//! (seen on an H200). So autocast is entered only when mixed precision is on, a float32 region calls into
//! libtorch only when it is inside autocast, and the first entry silences libtorch's C++ warnings, unless
//! the user set `TORCH_CPP_LOG_LEVEL` (PyTorch's own variable), which is then honoured as PyTorch does.
use std::cell::Cell;
use std::sync::Once;

thread_local! {
    /// Inside `autocast(true, ..)` on this thread, and not in a `full_precision` region within it.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

extern "C" {
    /// c10's minimum log level (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL), a plain `int` exported by libc10.
    static mut FLAGS_caffe2_log_level: i32;
    /// `c10::initLogging()`: applies `TORCH_CPP_LOG_LEVEL`; PyTorch calls it at import, libtorch alone never.
    #[link_name = "_ZN3c1011initLoggingEv"]
    fn c10_init_logging();
}

/// Runs `f` under fp16 autocast when `enabled` (a no-op without CUDA, as tch's); otherwise just runs it.
pub fn autocast<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    if !enabled {
        return f();
    }
    quiet_libtorch_warnings();
    let outer = ACTIVE.with(|a| a.replace(true));
    let out = tch::autocast(true, f);
    ACTIVE.with(|a| a.set(outer));
    out
}

/// Runs `f` with autocast switched off when it is on, as PyTorch's AMP guide advises for numerically
/// sensitive regions (the caller casts its inputs to float32).
pub fn full_precision<T>(f: impl FnOnce() -> T) -> T {
    if !active() {
        return f();
    }
    ACTIVE.with(|a| a.set(false));
    let out = tch::autocast(false, f);
    ACTIVE.with(|a| a.set(true));
    out
}

/// Whether this thread is inside `autocast(true, ..)` and outside any `full_precision` region in it.
pub fn active() -> bool {
    ACTIVE.with(Cell::get)
}

/// libtorch's C++ log level now (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL).
pub fn libtorch_log_level() -> i32 {
    // SAFETY: an aligned int that c10 only reads while logging; read by value, no reference is kept.
    unsafe { std::ptr::addr_of!(FLAGS_caffe2_log_level).read() }
}

fn quiet_libtorch_warnings() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TORCH_CPP_LOG_LEVEL").is_some() {
            // SAFETY: c10's own initialiser, no arguments; it only parses the variable into the flag.
            unsafe { c10_init_logging() }
        } else {
            // SAFETY: as in `libtorch_log_level`; written once, before the first autocast call.
            unsafe { std::ptr::addr_of_mut!(FLAGS_caffe2_log_level).write(2) }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float32_regions_nest_inside_autocast_and_only_there() {
        assert!(!active());
        full_precision(|| assert!(!active()));
        autocast(false, || assert!(!active()));
        let v = autocast(true, || {
            assert!(active());
            full_precision(|| assert!(!active()));
            assert!(active(), "the float32 region gives autocast back");
            autocast(true, || assert!(active()));
            assert!(active(), "a nested autocast leaves the outer one on");
            7
        });
        assert_eq!(v, 7);
        assert!(!active());
        // The first autocast silenced libtorch's warnings (this test runs without TORCH_CPP_LOG_LEVEL,
        // which would be honoured instead).
        if std::env::var_os("TORCH_CPP_LOG_LEVEL").is_none() {
            assert_eq!(libtorch_log_level(), 2);
        }
    }
}
