//! Pipeline probes: the no-op command, answered by recording `probe.completed`.

use crate::retry_on;
use futures_util::future::BoxFuture;
use sluice_events::consumer::{Handler, HandlerError, Incoming};
use sluice_events::event::ProbeCompleted;
use sluice_events::{AppendRequest, Appender, DomainEvent, ExpectedVersion, Metadata, NewEvent};

pub const CONSUMER: &str = "imports";

pub struct ProbeHandler {
    pub appender: Appender,
    pub worker: String,
}

impl Handler for ProbeHandler {
    fn handle(&self, incoming: Incoming) -> BoxFuture<'static, Result<(), HandlerError>> {
        let appender = self.appender.clone();
        let worker = self.worker.clone();
        Box::pin(async move {
            let cause = incoming.event;
            let DomainEvent::ProbeRequested(_) = cause.event else {
                return Err(HandlerError::Reject(format!(
                    "{} is not a command for this queue",
                    cause.event.event_type()
                )));
            };
            let done = NewEvent::new(
                DomainEvent::ProbeCompleted(ProbeCompleted {
                    worker: worker.clone(),
                }),
                Metadata::caused_by(&cause, format!("worker:{worker}")),
            );
            let request = AppendRequest::new(
                "probe",
                cause.stream_id,
                ExpectedVersion::Exactly(cause.stream_version),
                vec![done],
            )
            .processing(CONSUMER, cause.event_id);
            appender.append(request).await.map_err(retry_on)?;
            Ok(())
        })
    }
}
