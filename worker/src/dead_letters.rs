//! Dead letters: every delivery that reached `<ns>.dead` is recorded as an
//! event, so that operators see it through the API and the audit feed.

use crate::retry_on;
use futures_util::future::BoxFuture;
use sluice_events::consumer::{Handler, HandlerError, Incoming};
use sluice_events::event::DeliveryDeadLettered;
use sluice_events::topology::{header_int, header_str};
use sluice_events::{AppendRequest, Appender, DomainEvent, ExpectedVersion, Metadata, NewEvent};

pub const CONSUMER: &str = "dead-letters";

pub struct DeadLetterHandler {
    pub appender: Appender,
}

impl Handler for DeadLetterHandler {
    fn handle(&self, incoming: Incoming) -> BoxFuture<'static, Result<(), HandlerError>> {
        let appender = self.appender.clone();
        Box::pin(async move {
            let dead = incoming.event;
            let headers = &incoming.headers;
            let recorded = DeliveryDeadLettered {
                event_id: dead.event_id.0,
                event_type: dead.event.event_type().to_owned(),
                queue: header_str(headers, "x-first-death-queue").unwrap_or_default(),
                reason: header_str(headers, "x-first-death-reason")
                    .unwrap_or_else(|| "unknown".into()),
                delivery_count: header_int(headers, "x-delivery-count").unwrap_or(0),
            };
            let mut event = NewEvent::new(
                DomainEvent::DeliveryDeadLettered(recorded),
                Metadata::caused_by(&dead, "system"),
            );
            event.account_id = dead.account_id;
            let request = AppendRequest::new(
                "dead_letter",
                dead.event_id.0,
                ExpectedVersion::Any,
                vec![event],
            )
            .processing(CONSUMER, dead.event_id);
            appender.append(request).await.map_err(retry_on)?;
            Ok(())
        })
    }
}
