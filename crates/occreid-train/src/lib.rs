//! Training engine for the occreid methods (in progress): learning-rate schedules first.
pub mod schedule;
