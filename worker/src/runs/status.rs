//! How a run ends, as a pure function of what its work came to: the
//! status recorded in `run.finished` (and shown by `GET /v1/runs/{id}`).

use super::Totals;
use sluice_schema::kinds::{RunKind, RunStatus};

/// The status of a run of `kind` whose work came to `totals`, or that
/// stopped part-way (`stopped`: it cannot succeed, whatever it wrote).
pub(super) fn status(kind: RunKind, totals: Totals, stopped: bool) -> RunStatus {
    if stopped {
        return RunStatus::Failed;
    }
    match (kind, totals.failed, totals.ok) {
        (RunKind::Rollback, 0, _) => RunStatus::RolledBack,
        (RunKind::Import, 0, _) => RunStatus::Succeeded,
        (_, _, ok) if ok > 0 => RunStatus::PartiallySucceeded,
        _ => RunStatus::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::{status, RunKind, RunStatus, Totals};

    fn totals(ok: i64, failed: i64) -> Totals {
        Totals {
            read: ok + failed,
            ok,
            failed,
            skipped: 0,
        }
    }

    #[test]
    fn an_import_with_no_row_failed_succeeded() {
        assert_eq!(
            status(RunKind::Import, totals(10, 0), false),
            RunStatus::Succeeded
        );
    }

    #[test]
    fn an_import_of_no_rows_succeeded() {
        assert_eq!(
            status(RunKind::Import, totals(0, 0), false),
            RunStatus::Succeeded
        );
    }

    #[test]
    fn an_import_with_some_rows_failed_partially_succeeded() {
        assert_eq!(
            status(RunKind::Import, totals(7, 3), false),
            RunStatus::PartiallySucceeded
        );
    }

    #[test]
    fn an_import_whose_every_row_failed_failed() {
        assert_eq!(
            status(RunKind::Import, totals(0, 3), false),
            RunStatus::Failed
        );
    }

    #[test]
    fn an_import_that_stopped_failed_whatever_it_wrote() {
        assert_eq!(
            status(RunKind::Import, totals(5, 0), true),
            RunStatus::Failed
        );
        assert_eq!(
            status(RunKind::Import, totals(5, 2), true),
            RunStatus::Failed
        );
        assert_eq!(
            status(RunKind::Import, totals(0, 0), true),
            RunStatus::Failed
        );
    }

    #[test]
    fn a_rollback_with_no_row_failed_rolled_back() {
        assert_eq!(
            status(RunKind::Rollback, totals(4, 0), false),
            RunStatus::RolledBack
        );
    }

    #[test]
    fn a_rollback_of_nothing_rolled_back() {
        assert_eq!(
            status(RunKind::Rollback, totals(0, 0), false),
            RunStatus::RolledBack
        );
    }

    #[test]
    fn a_rollback_with_conflicts_partially_succeeded() {
        assert_eq!(
            status(RunKind::Rollback, totals(4, 1), false),
            RunStatus::PartiallySucceeded
        );
    }

    #[test]
    fn a_rollback_whose_every_row_conflicted_failed() {
        assert_eq!(
            status(RunKind::Rollback, totals(0, 2), false),
            RunStatus::Failed
        );
    }

    #[test]
    fn a_rollback_that_stopped_failed() {
        assert_eq!(
            status(RunKind::Rollback, totals(3, 0), true),
            RunStatus::Failed
        );
    }
}
