//! The job aggregate: whether a job is there to change or delete. Two
//! changes or two deletions decided at once are recorded one after the
//! other, each on the job as the one before left it.

use super::{owned_by, Aggregate, Refusal};
use crate::envelope::RecordedEvent;
use crate::event::{DomainEvent, JobDefined, JobDeleted};
use sluice_schema::ids::AccountId;

/// A job as its stream holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    pub account: Option<AccountId>,
    pub defined: bool,
    pub deleted: bool,
}

/// What may be asked of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobCommand {
    /// Replace its definition by this one (checked and sealed already).
    Change(JobDefined),
    Delete,
}

impl Aggregate for Job {
    const STREAM_TYPE: &'static str = "job";

    fn apply(&mut self, event: &RecordedEvent) {
        match &event.event {
            DomainEvent::JobCreated(_) | DomainEvent::JobCreatedV2(_) => {
                self.account = event.account_id;
                self.defined = true;
            }
            DomainEvent::JobDeleted(_) => self.deleted = true,
            _ => {}
        }
    }
}

impl Job {
    /// Whether `account` may act on the job: a job of another account,
    /// never defined or deleted is not found.
    pub fn live(&self, account: AccountId) -> Result<(), Refusal> {
        owned_by(self.account, account)?;
        if !self.defined || self.deleted {
            return Err(Refusal::NotFound);
        }
        Ok(())
    }

    /// The events that carry out `command` for `account` (see [`Job::live`]).
    pub fn decide(
        &self,
        account: AccountId,
        command: JobCommand,
    ) -> Result<Vec<DomainEvent>, Refusal> {
        self.live(account)?;
        Ok(vec![match command {
            JobCommand::Change(definition) => DomainEvent::JobUpdatedV2(definition),
            JobCommand::Delete => DomainEvent::JobDeleted(JobDeleted {}),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;
    use crate::aggregate::testing::{recorded, ACCOUNT};
    use sluice_schema::ids::{ConnectionId, UploadId};
    use sluice_schema::job::{Operation, SourceIds, TargetIds};
    use uuid::Uuid;

    fn defined() -> JobDefined {
        JobDefined {
            source: SourceIds::Upload {
                upload_id: UploadId(Uuid::from_u128(3)),
            },
            target: TargetIds {
                connection_id: ConnectionId(Uuid::from_u128(4)),
            },
            operation: Operation::Insert,
            schedule: None,
            retry_failed: false,
            schedule_paused: false,
            details: "sealed".into(),
        }
    }

    fn job(events: Vec<DomainEvent>) -> Job {
        let id = Uuid::from_u128(7);
        fold::<Job>(id, &recorded(id, events)).state
    }

    #[test]
    fn a_defined_job_is_changed_and_deleted() {
        let live = job(vec![DomainEvent::JobCreatedV2(defined())]);
        assert_eq!(
            live.decide(ACCOUNT, JobCommand::Change(defined())),
            Ok(vec![DomainEvent::JobUpdatedV2(defined())])
        );
        assert_eq!(
            live.decide(ACCOUNT, JobCommand::Delete),
            Ok(vec![DomainEvent::JobDeleted(JobDeleted {})])
        );
    }

    #[test]
    fn a_deleted_or_unknown_or_foreign_job_is_not_found() {
        let deleted = job(vec![
            DomainEvent::JobCreatedV2(defined()),
            DomainEvent::JobDeleted(JobDeleted {}),
        ]);
        assert_eq!(
            deleted.decide(ACCOUNT, JobCommand::Delete),
            Err(Refusal::NotFound)
        );
        assert_eq!(
            deleted.decide(ACCOUNT, JobCommand::Change(defined())),
            Err(Refusal::NotFound)
        );
        assert_eq!(
            Job::default().decide(ACCOUNT, JobCommand::Delete),
            Err(Refusal::NotFound)
        );
        let live = job(vec![DomainEvent::JobCreatedV2(defined())]);
        assert_eq!(
            live.decide(AccountId(Uuid::from_u128(2)), JobCommand::Delete),
            Err(Refusal::NotFound)
        );
    }
}
