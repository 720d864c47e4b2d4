//! A Bulk API 2.0 ingest job: its definition, its states, its outcome, and
//! its info as `GET …/jobs/ingest/{id}` reports it.

use super::ids;
use super::session::version_number;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operation {
    Insert,
    Update,
    Upsert,
    Delete,
    HardDelete,
}

impl Operation {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "insert" => Self::Insert,
            "update" => Self::Update,
            "upsert" => Self::Upsert,
            "delete" => Self::Delete,
            "hardDelete" => Self::HardDelete,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Upsert => "upsert",
            Self::Delete => "delete",
            Self::HardDelete => "hardDelete",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Open,
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::UploadComplete => "UploadComplete",
            Self::InProgress => "InProgress",
            Self::JobComplete => "JobComplete",
            Self::Failed => "Failed",
            Self::Aborted => "Aborted",
        }
    }
}

pub(super) struct Job {
    pub id: String,
    pub object: String,
    pub operation: Operation,
    pub external_id: Option<String>,
    pub line_ending: &'static str,
    pub delimiter: (&'static str, u8),
    pub state: State,
    pub content: Option<Vec<u8>>,
    pub created: String,
    pub modified: String,
    pub version: String,
    /// Polls of the job's info since it was closed, and how many it takes.
    pub polls: u32,
    pub polls_needed: u32,
    pub outcome: Option<Outcome>,
}

pub(super) struct Success {
    pub id: String,
    pub created: bool,
    pub row: Vec<String>,
}

pub(super) struct Failure {
    pub id: String,
    pub error: String,
    pub row: Vec<String>,
}

#[derive(Default)]
pub(super) struct Outcome {
    pub header: Vec<String>,
    pub successes: Vec<Success>,
    pub failures: Vec<Failure>,
    pub unprocessed: Vec<Vec<String>>,
    /// Set when the job failed: its `errorMessage`.
    pub error: Option<String>,
}

impl Outcome {
    pub(super) fn failed(message: String) -> Self {
        Self {
            error: Some(message),
            ..Self::default()
        }
    }
}

/// The job's info as Salesforce reports it.
pub(super) fn info_json(job: &Job) -> Value {
    let final_state = matches!(
        job.state,
        State::JobComplete | State::Failed | State::Aborted
    );
    let (done, failed) = job.outcome.as_ref().map_or((0, 0), |o| {
        (o.successes.len() + o.failures.len(), o.failures.len())
    });
    let share = |n: usize| match job.state {
        _ if final_state => n,
        State::InProgress => n * job.polls as usize / job.polls_needed.max(1) as usize,
        _ => 0,
    };
    let mut info = json!({
        "id": job.id,
        "operation": job.operation.name(),
        "object": job.object,
        "createdById": ids::make("005", 1),
        "createdDate": job.created,
        "systemModstamp": job.modified,
        "state": job.state.name(),
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": version_number(&job.version),
        "jobType": "V2Ingest",
        "lineEnding": job.line_ending,
        "columnDelimiter": job.delimiter.0,
        "numberRecordsProcessed": share(done),
        "numberRecordsFailed": share(failed),
        "retries": 0,
        "totalProcessingTime": 0,
        "apiActiveProcessingTime": 0,
        "apexProcessingTime": 0,
    });
    if let Some(key) = &job.external_id {
        info["externalIdFieldName"] = json!(key);
    }
    if job.state == State::Open {
        info["contentUrl"] = json!(format!(
            "services/data/{}/jobs/ingest/{}/batches",
            job.version, job.id
        ));
    }
    if let Some(error) = job
        .outcome
        .as_ref()
        .and_then(|o| o.error.as_ref())
        .filter(|_| final_state)
    {
        info["errorMessage"] = json!(error);
    }
    info
}
