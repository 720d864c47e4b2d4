//! Broker refusals at one cursor position, and when an event the broker
//! keeps refusing is sent alone, then quarantined.

use super::{BATCH, REFUSALS};

/// Broker refusals at one cursor position, kept across reconnects.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    at: i64,
    count: u32,
    /// Up to this position events are sent one at a time.
    alone_until: i64,
}

impl Refusals {
    /// How many events to send after `cursor`.
    pub(super) fn batch(&self, cursor: i64) -> i64 {
        if cursor < self.alone_until {
            1
        } else {
            BATCH
        }
    }

    /// Counts a refusal of what was sent after `cursor`; true when the one
    /// event sent alone has been refused [`REFUSALS`] times, and is to be
    /// quarantined. A batch refused that often is sent again one event at a
    /// time, to find the event the broker will not take.
    pub(super) fn record(&mut self, cursor: i64) -> bool {
        if self.at != cursor {
            self.at = cursor;
            self.count = 0;
        }
        self.count += 1;
        if cursor < self.alone_until {
            return self.count >= REFUSALS;
        }
        if self.count >= REFUSALS {
            self.alone_until = cursor + BATCH;
            self.count = 0;
        }
        false
    }
}
