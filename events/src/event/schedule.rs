//! Schedules' slots and the retention sweep they drive.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFired {
    /// `job`, or a system schedule: `retention`, `key_rotation_reminder`.
    pub schedule: String,
    /// The slot that came (the cron time, not when it was seen).
    pub slot: DateTime<Utc>,
    /// A job's schedule: the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<Uuid>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPurged {
    /// Uploads whose file and key were destroyed.
    pub uploads: Vec<Uuid>,
    /// Runs whose result files, journal and key were destroyed.
    pub runs: Vec<Uuid>,
}
