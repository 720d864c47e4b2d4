//! A Salesforce org reached for a run (an import or a rollback): the
//! connection's tokens opened, renewed as they expire (see `org_tokens`),
//! and where an earlier attempt of the run stopped, from its events.

use crate::runs::org_tokens::StoredTokens;
use crate::runs::{retry, RunHandler, Stop, Totals, Written};
use sluice_connectors::postgres::Checkpoint;
use sluice_connectors::salesforce::{self as sf, Salesforce, SalesforceError};
use sluice_connectors::tokens::ProviderTokens;
use sluice_events::event::RunBatchSent;
use sluice_events::DomainEvent;
use sluice_schema::ids::{AccountId, ConnectionId, RunId};
use sluice_schema::repo::connections;
use sluice_vault::{owner, Sealed};
use zeroize::Zeroizing;

/// A connected org, opened for a run.
pub(in crate::runs) struct Org {
    pub sf: Salesforce,
}

/// Where a run to Salesforce resumes: its last checkpoint, the API calls
/// made before it, and the batch it had sent without recording it done.
#[derive(Default)]
pub(in crate::runs) struct Resume {
    pub checkpoint: Checkpoint,
    pub api_calls: i64,
    pub sent: Option<RunBatchSent>,
}

/// A Salesforce call failed: the run ends with its message (which holds no
/// record's values).
pub(in crate::runs) fn failed(e: SalesforceError) -> Stop {
    Stop::Fail(e.to_string())
}

impl RunHandler {
    /// Opens the org of a Salesforce connection with its sealed tokens.
    pub(in crate::runs) async fn org(
        &self,
        account: AccountId,
        id: ConnectionId,
    ) -> Result<Org, Stop> {
        let salesforce = self.salesforce.as_ref().ok_or_else(|| {
            Stop::Fail(
                "this deployment has no Salesforce connected app configured \
                 (SLUICE_SALESFORCE_CLIENT_ID), so runs cannot reach Salesforce"
                    .into(),
            )
        })?;
        let row = self
            .opened_connection(account, id)
            .await?
            .ok_or_else(|| Stop::Fail("the target connection was disconnected".into()))?;
        let sealed = self
            .db(move |c| connections::secret(c, account, id))
            .await?
            .ok_or_else(|| Stop::Fail("the target connection's secret is gone".into()))?;
        let sealed = Sealed(sealed);
        let plain = self
            .keyring
            .with(|k| k.open(&sealed, &owner::connection_secret(account, id)))
            .map_err(|e| Stop::Retry(format!("connection secret: {e}")))?;
        let plain = Zeroizing::new(plain);
        let tokens: ProviderTokens = serde_json::from_slice(&plain).map_err(|_| {
            Stop::Fail(
                "the target connection's tokens cannot be read: connect the org again".into(),
            )
        })?;
        let backoff = salesforce.backoff;
        let app = sf::App {
            login_url: &salesforce.login_url,
            client_id: &salesforce.client_id,
            client_secret: &salesforce.client_secret,
        };
        let stored = StoredTokens {
            pool: self.platform.pool.clone(),
            keyring: self.keyring.clone(),
            http: self.http.clone(),
            app: salesforce.clone(),
            login_url: row.params["login_url"].as_str().map(str::to_owned),
            account,
            id,
        };
        let sf = Salesforce::of_connection(self.http.clone(), &row.params, &tokens, Some(app))
            .ok_or_else(|| Stop::Fail("the target connection names no Salesforce instance".into()))?
            .with_renewal(Box::new(stored))
            .with_backoff(backoff);
        Ok(Org { sf })
    }

    /// Nothing to keep after a run: a renewal seals its tokens as it
    /// renews them (see `org_tokens`).
    pub(in crate::runs) async fn keep_tokens(&self, _org: &mut Org) -> Result<(), Stop> {
        Ok(())
    }

    /// Where a run to Salesforce resumes, from its events.
    pub(in crate::runs) async fn resume(&self, run: RunId) -> Result<Resume, Stop> {
        use diesel::prelude::*;
        use sluice_schema::schema::events;
        let rows: Vec<(i64, String, serde_json::Value)> = self
            .db(move |c| {
                events::table
                    .filter(events::stream_type.eq("run"))
                    .filter(events::stream_id.eq(run.0))
                    .filter(events::event_type.eq_any(["run.progressed", "run.batch_sent"]))
                    .order(events::stream_version.asc())
                    .select((events::global_seq, events::event_type, events::payload))
                    .load(c)
            })
            .await?;
        let mut resume = Resume::default();
        for (seq, kind, payload) in rows {
            match DomainEvent::from_columns(seq, &kind, &payload).map_err(retry)? {
                DomainEvent::RunProgressed(done) => {
                    resume.checkpoint = Checkpoint {
                        batch: done.batch,
                        rows_ok: done.rows_ok,
                        rows_failed: done.rows_failed,
                    };
                    resume.api_calls = done.api_calls.unwrap_or(resume.api_calls);
                    resume.sent = resume.sent.filter(|s| s.batch > done.batch);
                }
                DomainEvent::RunBatchSent(sent) => resume.sent = Some(sent),
                _ => {}
            }
        }
        Ok(resume)
    }
}

/// The calls `sf` made, as events count them.
pub(in crate::runs) fn calls(sf: &Salesforce) -> i64 {
    i64::try_from(sf.api_calls()).unwrap_or(i64::MAX)
}

/// Ends a run's use of `org`, however the run went (`outcome`): the API
/// calls of this attempt and those before it (`before`) are counted, and
/// the tokens kept.
pub(in crate::runs) async fn close(
    handler: &RunHandler,
    org: &mut Org,
    before: i64,
    outcome: Result<Totals, Stop>,
    written: &mut Written,
) -> Result<Totals, Stop> {
    written.api_calls = Some(before + calls(&org.sf));
    let kept = handler.keep_tokens(org).await;
    let totals = outcome?;
    kept?;
    Ok(totals)
}
