//! Virtual time. The simulation counts whole hours from the start of the warm-up; the
//! wall clock is never read. Calendar times are the scenario's start date plus hours.

use chrono::{DateTime, Duration, Utc};

/// Converts simulated hours to calendar time and run days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Calendar time of run day 0, hour 0.
    start: DateTime<Utc>,
    /// Hours of warm-up history generated before day 0 (the static model trains on it).
    warmup_hours: u64,
}

impl Clock {
    /// A clock whose day 0 starts at `start`, preceded by `warmup_days` of history.
    pub fn new(start: DateTime<Utc>, warmup_days: u32) -> Self {
        Self {
            start,
            warmup_hours: u64::from(warmup_days) * 24,
        }
    }

    /// Hours of warm-up before day 0.
    pub fn warmup_hours(&self) -> u64 {
        self.warmup_hours
    }

    /// Run day of simulated hour `hour` (negative during warm-up).
    pub fn day_of(&self, hour: u64) -> i64 {
        (hour as i64 - self.warmup_hours as i64).div_euclid(24)
    }

    /// Hour of the day (0..24) of simulated hour `hour`.
    pub fn hour_of_day(&self, hour: u64) -> u32 {
        (hour % 24) as u32
    }

    /// First simulated hour of run day `day`.
    pub fn first_hour_of_day(&self, day: u32) -> u64 {
        self.warmup_hours + u64::from(day) * 24
    }

    /// Calendar time of simulated hour `hour`.
    pub fn time_of(&self, hour: u64) -> DateTime<Utc> {
        self.start + Duration::hours(hour as i64 - self.warmup_hours as i64)
    }

    /// Calendar time of day 0.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Warm-up hours map to negative days and calendar times before the start.
    #[test]
    fn warmup_is_before_day_zero() {
        let start = DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::new(start, 7);
        assert_eq!(c.day_of(0), -7);
        assert_eq!(c.day_of(7 * 24), 0);
        assert_eq!(c.time_of(7 * 24 + 25), start + Duration::hours(25));
        assert_eq!(c.first_hour_of_day(2), 9 * 24);
    }
}
