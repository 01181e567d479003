//! When a deployed rule runs and what each run reports, derived from its window (or `every`) and
//! its ingestion delay so that a series of runs raises every alert of one run over all the data
//! exactly once (docs/LANGUAGE.md, "Deployment: entities and schedule").
//!
//! Windows are tumbling and epoch-aligned. A run at `now` reports the period
//! `[end - P, end)` with `end = floor(now - delay, P)`: the last period that closed at least
//! `delay` ago, so every event of it has arrived, and whole, so a burst is never split. Runs `P`
//! apart report consecutive periods whatever their phase, so none is skipped or repeated. The
//! target reads back `2P + delay`: the period's start is at most that far before `now`.

use crate::ir::Rule;

/// The ingestion delay a rule without `schedule delay` is given: events are assumed to reach the
/// SIEM within ten minutes of their time (Sentinel documents typical ingestion latency of 2 to 5
/// minutes for most tables, docs/TARGETS.md).
pub const DEFAULT_DELAY: u64 = 10 * 60;
/// How often a rule without a window runs unless it says `schedule every`: an hour, the shortest
/// interval every target schedules (Defender custom detections run at most hourly, besides
/// continuous).
pub const DEFAULT_EVERY: u64 = 3600;

/// A rule's derived schedule, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Schedule {
    /// Run interval and reported period: the window, or `every` for a rule without one.
    pub period: u64,
    /// How late an event may arrive after its time.
    pub delay: u64,
}

impl Schedule {
    pub fn of(rule: &Rule) -> Schedule {
        let spec = rule.schedule.unwrap_or(crate::ir::ScheduleSpec {
            every: None,
            delay: None,
        });
        let period = match &rule.aggregation {
            Some(a) => a.window,
            None => spec.every.unwrap_or(DEFAULT_EVERY),
        };
        Schedule {
            period,
            delay: spec.delay.unwrap_or(DEFAULT_DELAY),
        }
    }

    /// How far back from `now` a run must read: `2 * period + delay`.
    pub fn lookback(&self) -> u64 {
        2 * self.period + self.delay
    }

    /// The period `[start, end)` (Unix seconds) a run at `now` reports.
    pub fn reported(&self, now: i64) -> (i64, i64) {
        let end = crate::ir::time::window_start(now - self.delay as i64, self.period);
        (end - self.period as i64, end)
    }

    /// How long a target suppresses after an alert for a rule's `suppress d` (d a whole number
    /// `n` of periods): `d - period / 2`. A target times suppression from when a run raised the
    /// alert, and runs are `period` apart, each late by its own execution time: the run `n`
    /// periods later must raise again and the `n - 1` runs between must not, which holds
    /// whatever the runs' delays as long as they differ by less than half a period. Exactly `d`
    /// would leave the run `n` periods later to which of two runs took longer.
    pub fn suppression(&self, d: u64) -> u64 {
        d.saturating_sub(self.period / 2)
    }
}
