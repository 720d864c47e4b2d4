//! The monthly row limit of the account's plan, as a run applies it: a run
//! reads at most the rows the account has left this month (the rows its
//! other imports read since the month began count against it), and stops
//! there, as a run that fails part-way does: what it wrote is kept,
//! recorded and can be rolled back, and its message says why it stopped.
//! A resumed run reads its source from the start again, so it stops at the
//! same row.

use super::{RunHandler, Stop};
use sluice_schema::ids::{AccountId, RunId};
use sluice_schema::kinds::Plan;
use sluice_schema::plans::{self, Limits};

/// How many rows a run may read, and what it says when it stops there.
#[derive(Debug, Clone)]
pub(super) struct RowLimit {
    pub rows: u64,
    pub message: String,
}

impl RunHandler {
    /// The rows run `run` may read under the account's plan (none: no
    /// limit); a run with none left fails before it starts.
    pub(super) async fn allowance(
        &self,
        account: AccountId,
        run: RunId,
    ) -> Result<Option<RowLimit>, Stop> {
        if !self.plan_limits {
            return Ok(None);
        }
        let now = self.platform.clock.now();
        let since = plans::month_start(now);
        let (plan, used) = self
            .db(move |c| {
                let plan = sluice_schema::repo::accounts::find_account(c, account)?
                    .map_or(Plan::Free, |a| a.plan);
                let used =
                    sluice_schema::repo::billing::rows_read_since(c, account, since, Some(run))?;
                Ok((plan, used))
            })
            .await?;
        let Some(allowed) = Limits::of(plan, true).rows_per_month else {
            return Ok(None);
        };
        let left = allowed.saturating_sub(used).max(0);
        let reached = format!(
            "the account reached the {} plan's limit of {allowed} rows a month; the count \
             starts anew on {}, or upgrade the plan to raise it",
            Limits::title(plan),
            plans::next_month_start(now).format("%Y-%m-%d"),
        );
        if left == 0 {
            return Err(Stop::Fail(format!("nothing was read: {reached}")));
        }
        Ok(Some(RowLimit {
            rows: u64::try_from(left).unwrap_or(u64::MAX),
            message: format!("the run stopped after {left} rows: {reached}"),
        }))
    }
}
