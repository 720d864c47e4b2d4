//! `sluice audit verify`: walks the hash chain and reports the first altered,
//! missing or reordered event.

use crate::hash::{event_hash, GENESIS};
use diesel::prelude::*;
use serde::Serialize;
use sluice_schema::models::EventRow;
use sluice_schema::schema::{event_log_head, events};

const PAGE: i64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The event's content no longer matches its hash.
    Altered,
    /// An event with this sequence number is gone.
    Missing,
    /// The event sits at the wrong place in the chain.
    Reordered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    pub global_seq: i64,
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events_checked: i64,
    pub head_seq: i64,
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

pub fn verify(conn: &mut PgConnection) -> QueryResult<VerifyReport> {
    let (head_seq, head_hash): (i64, Vec<u8>) = event_log_head::table
        .select((event_log_head::last_seq, event_log_head::last_hash))
        .first(conn)?;
    let mut expected_seq = 1_i64;
    let mut running = GENESIS.to_vec();
    let mut checked = 0_i64;
    loop {
        let page: Vec<EventRow> = events::table
            .filter(events::global_seq.ge(expected_seq))
            .order(events::global_seq.asc())
            .limit(PAGE)
            .select(EventRow::as_select())
            .load(conn)?;
        if page.is_empty() {
            break;
        }
        for row in &page {
            if let Some(problem) = check(conn, row, expected_seq, &running)? {
                return Ok(report(checked, head_seq, problem));
            }
            checked += 1;
            expected_seq += 1;
            running = row.hash.clone();
        }
    }
    let last = expected_seq - 1;
    let problem = if last < head_seq {
        Some(ChainProblem {
            global_seq: last + 1,
            kind: ProblemKind::Missing,
            detail: format!("the log ends at {last} but its head records {head_seq}"),
        })
    } else if last > head_seq || running != head_hash {
        Some(ChainProblem {
            global_seq: last,
            kind: ProblemKind::Altered,
            detail: "the last event does not match the log's head".into(),
        })
    } else {
        None
    };
    Ok(VerifyReport {
        events_checked: checked,
        head_seq,
        problem,
    })
}

fn check(
    conn: &mut PgConnection,
    row: &EventRow,
    expected_seq: i64,
    running: &[u8],
) -> QueryResult<Option<ChainProblem>> {
    if row.global_seq != expected_seq {
        return Ok(Some(ChainProblem {
            global_seq: expected_seq,
            kind: ProblemKind::Missing,
            detail: format!(
                "event {expected_seq} is missing; the next is {}",
                row.global_seq
            ),
        }));
    }
    if row.prev_hash != running {
        let belongs_elsewhere: bool = diesel::select(diesel::dsl::exists(
            events::table
                .filter(events::hash.eq(&row.prev_hash))
                .filter(events::global_seq.ne(row.global_seq - 1)),
        ))
        .get_result(conn)?;
        let (kind, detail) = if belongs_elsewhere {
            (
                ProblemKind::Reordered,
                "the event follows a different event than the one before it",
            )
        } else {
            (
                ProblemKind::Missing,
                "the event before this one is not the one it was chained to",
            )
        };
        return Ok(Some(ChainProblem {
            global_seq: row.global_seq,
            kind,
            detail: detail.into(),
        }));
    }
    if event_hash(row) != row.hash {
        return Ok(Some(ChainProblem {
            global_seq: row.global_seq,
            kind: ProblemKind::Altered,
            detail: "the event's content does not match its hash".into(),
        }));
    }
    Ok(None)
}

fn report(checked: i64, head_seq: i64, problem: ChainProblem) -> VerifyReport {
    VerifyReport {
        events_checked: checked,
        head_seq,
        problem: Some(problem),
    }
}
