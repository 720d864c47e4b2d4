//! How a run ends, as a pure function of what its work came to: the
//! status recorded in `run.finished` (and shown by `GET /v1/runs/{id}`).

use super::Totals;

/// What a run is: an import, or a rollback of another run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Import,
    Rollback,
}

/// The status of a run of `kind` whose work came to `totals`, or that
/// stopped part-way (`stopped`: it cannot succeed, whatever it wrote).
pub(super) fn status(kind: Kind, totals: Totals, stopped: bool) -> &'static str {
    if stopped {
        return "failed";
    }
    match (kind, totals.failed, totals.ok) {
        (Kind::Rollback, 0, _) => "rolled_back",
        (Kind::Import, 0, _) => "succeeded",
        (_, _, ok) if ok > 0 => "partially_succeeded",
        _ => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::{status, Kind, Totals};

    fn totals(ok: i64, failed: i64) -> Totals {
        Totals {
            read: ok + failed,
            ok,
            failed,
        }
    }

    #[test]
    fn an_import_with_no_row_failed_succeeded() {
        assert_eq!(status(Kind::Import, totals(10, 0), false), "succeeded");
    }

    #[test]
    fn an_import_of_no_rows_succeeded() {
        assert_eq!(status(Kind::Import, totals(0, 0), false), "succeeded");
    }

    #[test]
    fn an_import_with_some_rows_failed_partially_succeeded() {
        assert_eq!(
            status(Kind::Import, totals(7, 3), false),
            "partially_succeeded"
        );
    }

    #[test]
    fn an_import_whose_every_row_failed_failed() {
        assert_eq!(status(Kind::Import, totals(0, 3), false), "failed");
    }

    #[test]
    fn an_import_that_stopped_failed_whatever_it_wrote() {
        assert_eq!(status(Kind::Import, totals(5, 0), true), "failed");
        assert_eq!(status(Kind::Import, totals(5, 2), true), "failed");
        assert_eq!(status(Kind::Import, totals(0, 0), true), "failed");
    }

    #[test]
    fn a_rollback_with_no_row_failed_rolled_back() {
        assert_eq!(status(Kind::Rollback, totals(4, 0), false), "rolled_back");
    }

    #[test]
    fn a_rollback_of_nothing_rolled_back() {
        assert_eq!(status(Kind::Rollback, totals(0, 0), false), "rolled_back");
    }

    #[test]
    fn a_rollback_with_conflicts_partially_succeeded() {
        assert_eq!(
            status(Kind::Rollback, totals(4, 1), false),
            "partially_succeeded"
        );
    }

    #[test]
    fn a_rollback_whose_every_row_conflicted_failed() {
        assert_eq!(status(Kind::Rollback, totals(0, 2), false), "failed");
    }

    #[test]
    fn a_rollback_that_stopped_failed() {
        assert_eq!(status(Kind::Rollback, totals(3, 0), true), "failed");
    }
}
