//! Decisions on event streams, from a request: load the aggregate, decide,
//! append at exactly the version loaded; when another request's events
//! moved the stream on meanwhile (a version conflict), load and decide
//! again, so the later request gets the answer it would get had it
//! arrived second (a 404, a 409...), or is applied on top of the first.

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::AppState;
use sluice_events::aggregate::{self, Aggregate, LoadError, Loaded, Refusal};
use sluice_events::{AppendError, AppendRequest, DomainEvent, ExpectedVersion, NewEvent};
use std::future::Future;
use uuid::Uuid;

/// How many times a request decides, at most: a third conflict in a row
/// is answered as one (409, retry).
const TRIES: usize = 3;

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound => Self::NotFound,
            Refusal::Conflict(message) => Self::Conflict(message),
            Refusal::Gone(message) => Self::Gone(message),
        }
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Database(e) => e.into(),
            LoadError::Decode(e) => Self::Internal(e.to_string()),
        }
    }
}

/// Aggregate `A` of stream `id`, read off the async executor.
pub async fn load<A>(state: &AppState, id: Uuid) -> Result<Loaded<A>, ApiError>
where
    A: Aggregate + Send + 'static,
{
    state
        .db(move |conn| Ok(aggregate::load::<A>(conn, id)?))
        .await
}

/// Appends what `decide` decides (it loads what it needs and states the
/// version it read), deciding again after a version conflict; the id of
/// the stream appended to.
pub async fn decide<F, Fut>(state: &AppState, mut decide: F) -> Result<Uuid, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<AppendRequest, ApiError>>,
{
    let mut tries = 1;
    loop {
        let request = decide().await?;
        let stream = request.stream_id;
        match state.platform.appender.append(request).await {
            Ok(_) => return Ok(stream),
            Err(AppendError::Conflict { .. }) if tries < TRIES => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A request to append `events` by `user` (of their account) to stream
/// `id` of `stream_type`, at `expected`.
pub fn request(
    state: &AppState,
    user: &AuthUser,
    stream_type: &str,
    id: Uuid,
    expected: ExpectedVersion,
    events: Vec<DomainEvent>,
) -> AppendRequest {
    let actor = format!("user:{}", user.user_id);
    let events = events
        .into_iter()
        .map(|event| {
            NewEvent::new(event, state.metadata(actor.clone())).for_account(user.account_id)
        })
        .collect();
    AppendRequest::new(stream_type, id, expected, events)
}

/// A request to append `events` by `user` to the stream `loaded` was read
/// from, at the version read.
pub fn request_on<A: Aggregate>(
    state: &AppState,
    user: &AuthUser,
    loaded: &Loaded<A>,
    events: Vec<DomainEvent>,
) -> AppendRequest {
    request(
        state,
        user,
        A::STREAM_TYPE,
        loaded.id,
        loaded.expected(),
        events,
    )
}
