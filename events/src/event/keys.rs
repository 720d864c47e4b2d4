//! Key rotation: requested, its progress, finished, and the reminder that one is due.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationDue {
    /// The primary key's version.
    pub primary: u32,
    /// Since when it has been primary (the last rotation, or the log's
    /// first event).
    pub since: DateTime<Utc>,
    pub age_days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationRequested {
    /// The new primary key's version.
    pub primary: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRewrapProgress {
    pub table: String,
    /// Rows of `table` rewrapped so far by this rotation.
    pub done: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationFinished {
    /// Rows rewrapped, by table.
    pub rewrapped: std::collections::BTreeMap<String, u64>,
    /// The worker that did it.
    pub worker: String,
}
