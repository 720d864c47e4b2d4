//! Crash points: the named phases of a run at which a test can make the
//! worker process stop dead, as `kill -9` would, to show that every step of
//! a run (result assembly and rollbacks included) is safe to repeat.
//!
//! A testing aid, inert in a build for use: the points exist only with the
//! crate's `failpoints` feature, which only the test build turns on (a
//! dev-dependency of the root package); without it [`at`] is empty and
//! nothing reads `FAILPOINTS`. In a test build, a worker started with
//! `FAILPOINTS="<phase>=return"` aborts the first time it reaches that phase;
//! the `fail` crate's counts work too (`batch-committed=2*off->return`
//! aborts at the third batch).

/// A phase of a run, in the order a run reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A batch and its checkpoint were committed in the target, its result
    /// pieces written.
    BatchCommitted,
    /// The first piece of success.csv was copied into its staging file.
    Joining,
    /// success.csv is in place; errors.csv is not yet.
    SuccessJoined,
    /// Both result files and the record of the run's end are in place; no
    /// piece is deleted yet.
    Assembled,
    /// The first batch's pieces were deleted, the others not yet.
    DeletingPieces,
    /// `run.finished` is built and not yet appended.
    FinishBuilt,
    /// `run.finished` is appended; the delivery is not yet acknowledged.
    Finished,
}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 7] = [
        Phase::BatchCommitted,
        Phase::Joining,
        Phase::SuccessJoined,
        Phase::Assembled,
        Phase::DeletingPieces,
        Phase::FinishBuilt,
        Phase::Finished,
    ];

    /// The phase's name in `FAILPOINTS`.
    pub const fn name(self) -> &'static str {
        match self {
            Phase::BatchCommitted => "batch-committed",
            Phase::Joining => "joining",
            Phase::SuccessJoined => "success-joined",
            Phase::Assembled => "assembled",
            Phase::FinishBuilt => "finish-built",
            Phase::Finished => "finished",
            Phase::DeletingPieces => "deleting-pieces",
        }
    }
}

/// The process aborts here if a test asked for it at `phase`.
#[inline(always)]
pub fn at(phase: Phase) {
    #[cfg(feature = "failpoints")]
    fail::fail_point!(phase.name(), |_| std::process::abort());
    #[cfg(not(feature = "failpoints"))]
    let _ = phase;
}

/// Reads the crash points a test set in `FAILPOINTS` (`phase=actions`,
/// separated by `;`); a point that does not parse is reported, not set.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    for point in std::env::var("FAILPOINTS")
        .unwrap_or_default()
        .split(';')
        .filter(|p| !p.trim().is_empty())
    {
        let set = point
            .split_once('=')
            .ok_or_else(|| "no `=`".to_owned())
            .and_then(|(name, actions)| fail::cfg(name.trim(), actions.trim()));
        match set {
            Ok(()) => tracing::warn!(point, "crash point set (a testing aid)"),
            Err(reason) => tracing::error!(point, %reason, "crash point not set"),
        }
    }
}
