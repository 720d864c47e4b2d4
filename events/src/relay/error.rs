//! Why the relay stopped publishing: the broker went away or refused, or
//! the database failed.

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker connection lost")]
    ChannelClosed,
    #[error("broker refused event {0}")]
    Nacked(i64),
    #[error("the broker did not confirm a batch within {0:?}")]
    Unconfirmed(std::time::Duration),
    #[error("database: {0}")]
    Database(String),
    #[error("encoding event: {0}")]
    Encode(#[from] serde_json::Error),
}

impl RelayError {
    /// Whether the broker itself said no to what was published (as opposed
    /// to going away): only that counts against the events sent.
    pub(super) fn is_refusal(&self) -> bool {
        match self {
            Self::Nacked(_) => true,
            // A channel-level error (the broker closing the channel on a
            // message it will not take), not a connection-level one such
            // as a broker shutting down.
            Self::Broker(e) => matches!(
                e.kind(),
                lapin::ErrorKind::ProtocolError(error)
                    if matches!(error.kind(), lapin::protocol::AMQPErrorKind::Soft(_))
            ),
            _ => false,
        }
    }
}

impl From<diesel::result::Error> for RelayError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<diesel::ConnectionError> for RelayError {
    fn from(e: diesel::ConnectionError) -> Self {
        Self::Database(e.to_string())
    }
}
