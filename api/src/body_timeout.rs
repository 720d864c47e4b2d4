//! Every request body has a read timeout: a body that sends nothing for
//! `SLUICE_BODY_IDLE_TIMEOUT` ends with an error its extractor reports as
//! 408, so a client that stalls half-way holds nothing for ever. Uploads
//! time their body themselves (see `routes::uploads`).

use crate::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::StreamExt;
use std::time::Duration;

/// The error a stalled body ends with.
pub fn stalled() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the body sent nothing in time",
    ))
}

/// Whether `error` is the end of a stalled body.
pub fn is_stalled(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let upload = req.path() == "/v1/uploads";
    let idle = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.body_idle_timeout)
        .unwrap_or(Duration::from_secs(30));
    if !upload {
        let payload = req.take_payload();
        let timed = futures_util::stream::unfold(Some(payload), move |payload| async move {
            let mut payload = payload?;
            match tokio::time::timeout(idle, payload.next()).await {
                Ok(Some(item)) => Some((item, Some(payload))),
                Ok(None) => None,
                // The stream ends after its error.
                Err(_) => Some((Err(stalled()), None)),
            }
        });
        let boxed: std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>> = Box::pin(timed);
        req.set_payload(Payload::from(boxed));
    }
    next.call(req).await
}
