//! What the operator does with events the relay quarantined
//! (`sluice relay quarantined | republish SEQ | discard SEQ`).
//!
//! Re-publishing sends the event as the relay would have, with a publisher
//! confirm, and records that it went; discarding records that it never
//! will. Either way the quarantine is settled once, by an event.

use crate::amqp;
use crate::envelope::wire_from_row;
use crate::event::{DomainEvent, QuarantineOutcome, RelayQuarantineReleased};
use crate::topology::Topology;
use crate::{AppendRequest, ExpectedVersion, Metadata, NewEvent};
use diesel::prelude::*;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use sluice_schema::models::{EventRow, QuarantineRow};
use sluice_schema::schema::{events, relay_quarantine};

#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("no event at position {0} is quarantined")]
    NotQuarantined(i64),
    #[error("the event at position {0} was {1} already")]
    Settled(i64, String),
    #[error("the broker did not take the event: {0}")]
    Broker(String),
    #[error("database: {0}")]
    Database(String),
}

impl From<diesel::result::Error> for QuarantineError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Every quarantined event, settled or not, oldest first.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<QuarantineRow>> {
    relay_quarantine::table
        .order(relay_quarantine::global_seq.asc())
        .select(QuarantineRow::as_select())
        .load(conn)
}

/// The quarantined event at `seq`, still waiting, and its row in the log.
pub fn waiting(
    conn: &mut PgConnection,
    seq: i64,
) -> Result<(QuarantineRow, EventRow), QuarantineError> {
    let quarantined = relay_quarantine::table
        .find(seq)
        .select(QuarantineRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(QuarantineError::NotQuarantined(seq))?;
    if let Some(outcome) = &quarantined.outcome {
        return Err(QuarantineError::Settled(seq, outcome.clone()));
    }
    let row = events::table
        .find(seq)
        .select(EventRow::as_select())
        .first(conn)?;
    Ok((quarantined, row))
}

/// Publishes the quarantined event at `seq` to the events exchange and
/// waits for the broker's confirm.
pub async fn publish(
    amqp_url: &str,
    topology: &Topology,
    row: &EventRow,
) -> Result<(), QuarantineError> {
    let broker = |e: lapin::Error| QuarantineError::Broker(e.to_string());
    let body = wire_from_row(row).map_err(|e| QuarantineError::Broker(e.to_string()))?;
    let connection = amqp::connect(amqp_url, "sluice-relay-operator")
        .await
        .map_err(broker)?;
    let channel = connection.create_channel().await.map_err(broker)?;
    topology.declare(&channel).await.map_err(broker)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(broker)?;
    let confirm = channel
        .basic_publish(
            topology.events_exchange().as_str().into(),
            row.event_type.as_str().into(),
            BasicPublishOptions::default(),
            &body,
            crate::relay::properties(row),
        )
        .await
        .map_err(broker)?
        .await
        .map_err(broker)?;
    let _ = connection.close(200, "published".into()).await;
    if confirm.is_nack() {
        return Err(QuarantineError::Broker("it answered with a nack".into()));
    }
    Ok(())
}

/// Records how the quarantine of the event at `seq` was settled.
pub fn settle(
    conn: &mut PgConnection,
    quarantined: &QuarantineRow,
    outcome: QuarantineOutcome,
    actor: &str,
) -> Result<(), QuarantineError> {
    let stream = crate::relay::quarantine::quarantine_stream(&quarantined.cursor_name);
    let event = NewEvent::new(
        DomainEvent::RelayQuarantineReleased(RelayQuarantineReleased {
            global_seq: quarantined.global_seq,
            outcome,
        }),
        Metadata::actor(actor),
    );
    crate::append(
        conn,
        &AppendRequest::new("relay", stream, ExpectedVersion::Any, vec![event]),
    )
    .map_err(|e| QuarantineError::Database(e.to_string()))?;
    Ok(())
}
