//! Which failed calls are sent again, and how long the client waits
//! between tries.
//!
//! A call Salesforce refused before doing anything is sent again: a `503`
//! (its HTML maintenance page, or `SERVER_UNAVAILABLE`), the concurrent
//! long-running request limit (`REQUEST_LIMIT_EXCEEDED` with
//! "ConcurrentPerOrgLongTxn Limit exceeded."), and `UNABLE_TO_LOCK_ROW` for
//! the whole request, as is a connection that could not be opened. A
//! proxy's `502`/`504` (or a connection lost mid-call) comes after the
//! request may have been carried out: only calls that are harmless to
//! repeat are sent again then ([`Repeat::Always`]: reads, queries,
//! describe, updates and deletes by `Id`, upserts by external id, Bulk job
//! polls). The org's 24-hour request limit ("TotalRequests Limit
//! exceeded.") is never retried: it lasts until the org's allocation
//! frees up.

use super::SalesforceError;
use std::time::Duration;

/// How often, and how far apart, a call refused for a passing reason is
/// tried: `tries` in all, waiting `first`, then twice as long each time,
/// at most `longest`. By default 5 tries over 30 seconds (2, 4, 8, 16 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub tries: u32,
    pub first: Duration,
    pub longest: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            tries: 5,
            first: Duration::from_secs(2),
            longest: Duration::from_secs(16),
        }
    }
}

impl Backoff {
    /// The wait before try `tried + 1`, after `tried` tries (1 or more).
    pub fn delay(&self, tried: u32) -> Duration {
        let doubled = self
            .first
            .saturating_mul(2u32.saturating_pow(tried.saturating_sub(1)));
        doubled.min(self.longest)
    }
}

/// Whether a call may be sent again when it may have been carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// Only when Salesforce refused it before doing anything.
    Refused,
    /// Also after a proxy's `502`/`504` or a lost connection: repeating it
    /// changes nothing more.
    Always,
}

/// A passing reason a call failed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Passing {
    /// `503`: down for maintenance, or `SERVER_UNAVAILABLE`.
    Unavailable,
    /// The concurrent long-running request limit.
    Concurrent,
    /// `UNABLE_TO_LOCK_ROW` for the whole request.
    Locked,
    /// No connection could be opened.
    NoConnection,
    /// A proxy's `502`/`504`, or a connection lost mid-call: the request
    /// may have been carried out.
    InDoubt,
}

impl Passing {
    /// What a failed answer's status and error code say, if it is passing.
    pub fn of_answer(status: u16, code: &str, message: &str) -> Option<Self> {
        match (status, code) {
            (_, "SERVER_UNAVAILABLE") | (503, _) => Some(Self::Unavailable),
            (_, "REQUEST_LIMIT_EXCEEDED") if is_concurrent(message) => Some(Self::Concurrent),
            (_, "UNABLE_TO_LOCK_ROW") => Some(Self::Locked),
            (502 | 504, _) => Some(Self::InDoubt),
            _ => None,
        }
    }

    pub fn of_transport(e: &reqwest::Error) -> Self {
        if e.is_connect() {
            Self::NoConnection
        } else {
            Self::InDoubt
        }
    }

    /// Whether a call sent as `repeat` may be sent again.
    pub fn repeats(self, repeat: Repeat) -> bool {
        self != Self::InDoubt || repeat == Repeat::Always
    }

    /// The error once the call is not sent again, after `tries` tries.
    pub fn error(self, tries: u32, detail: String) -> SalesforceError {
        match self {
            Self::Concurrent => SalesforceError::ConcurrentLimit { tries },
            Self::Unavailable => SalesforceError::Unavailable {
                reason: "it is down for maintenance or overloaded",
                tries,
            },
            Self::Locked => SalesforceError::Unavailable {
                reason: "another process holds the records (UNABLE_TO_LOCK_ROW)",
                tries,
            },
            Self::NoConnection | Self::InDoubt => SalesforceError::Unreachable(detail),
        }
    }
}

/// Whether a `REQUEST_LIMIT_EXCEEDED` is the concurrent long-running
/// request limit, not the 24-hour one.
pub(super) fn is_concurrent(message: &str) -> bool {
    message.contains("ConcurrentPerOrgLongTxn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_longest_and_add_up_to_half_a_minute() {
        let backoff = Backoff::default();
        let waits: Vec<u64> = (1..backoff.tries)
            .map(|t| backoff.delay(t).as_secs())
            .collect();
        assert_eq!(waits, [2, 4, 8, 16]);
        assert_eq!(backoff.delay(30).as_secs(), 16);
    }

    #[test]
    fn only_the_daily_limit_and_real_refusals_are_final() {
        let limit = |m| Passing::of_answer(403, "REQUEST_LIMIT_EXCEEDED", m);
        assert_eq!(limit("TotalRequests Limit exceeded."), None);
        assert_eq!(
            limit("ConcurrentPerOrgLongTxn Limit exceeded."),
            Some(Passing::Concurrent)
        );
        assert_eq!(
            Passing::of_answer(503, "HTTP 503", ""),
            Some(Passing::Unavailable)
        );
        assert_eq!(Passing::of_answer(400, "INVALID_FIELD", ""), None);
        let gateway = Passing::of_answer(502, "HTTP 502", "");
        assert_eq!(gateway, Some(Passing::InDoubt));
        assert!(!Passing::InDoubt.repeats(Repeat::Refused));
        assert!(Passing::InDoubt.repeats(Repeat::Always));
        assert!(Passing::Locked.repeats(Repeat::Refused));
    }
}
