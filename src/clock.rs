//! The time the console believes it is. Pod usage is charged by running
//! time, so tests need to control it: `Clock::system()` in production,
//! `Clock::manual(start)` in tests, whose hand the test moves forward.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The machine's clock, truncated to the microsecond PostgreSQL keeps,
    /// so a time read back from the database equals the one written.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            let now = OffsetDateTime::now_utc();
            now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
                .unwrap_or(now)
        }))
    }

    /// A clock that stands still at `start` until its hand moves it.
    pub fn manual(start: OffsetDateTime) -> (Clock, ClockHand) {
        let hand = ClockHand(Arc::new(Mutex::new(start)));
        let read = hand.clone();
        (Clock(Arc::new(move || read.now())), hand)
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

/// Moves a manual clock.
#[derive(Clone)]
pub struct ClockHand(Arc<Mutex<OffsetDateTime>>);

impl ClockHand {
    pub fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    /// Sets the hand to `to` (a test jumping to the turn of a month).
    pub fn set(&self, to: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = time::macros::datetime!(2026-01-01 12:00 UTC);
        let (clock, hand) = Clock::manual(start);
        assert_eq!(clock.now(), start);
        hand.advance(Duration::minutes(90));
        assert_eq!(clock.now(), start + Duration::minutes(90));
    }
}
