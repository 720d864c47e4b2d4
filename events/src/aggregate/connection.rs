//! The connection aggregate: whether a connection is there to disconnect.
//! Two disconnections decided at once record one; the other finds no
//! connection.

use super::{owned_by, Aggregate, Refusal};
use crate::envelope::RecordedEvent;
use crate::event::{ConnectionDisconnected, DomainEvent};
use sluice_schema::ids::AccountId;

/// A connection as its stream holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub account: Option<AccountId>,
    pub added: bool,
    pub disconnected: bool,
}

impl Aggregate for Connection {
    const STREAM_TYPE: &'static str = "connection";

    fn apply(&mut self, event: &RecordedEvent) {
        match &event.event {
            DomainEvent::ConnectionCreated(_) | DomainEvent::ConnectionCreatedV2(_) => {
                self.account = event.account_id;
                self.added = true;
            }
            DomainEvent::ConnectionDisconnected(_) => self.disconnected = true,
            _ => {}
        }
    }
}

impl Connection {
    /// Disconnect, recording whether the provider confirmed the revocation
    /// of its tokens (none: a kind without a provider).
    pub fn disconnect(
        &self,
        account: AccountId,
        revoked_at_provider: Option<bool>,
    ) -> Result<Vec<DomainEvent>, Refusal> {
        owned_by(self.account, account)?;
        if !self.added || self.disconnected {
            return Err(Refusal::NotFound);
        }
        Ok(vec![DomainEvent::ConnectionDisconnected(
            ConnectionDisconnected {
                revoked_at_provider,
            },
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;
    use crate::aggregate::testing::{recorded, ACCOUNT};
    use crate::event::ConnectionAdded;
    use uuid::Uuid;

    fn connection(events: Vec<DomainEvent>) -> Connection {
        let id = Uuid::from_u128(9);
        fold::<Connection>(id, &recorded(id, events)).state
    }

    fn added() -> DomainEvent {
        DomainEvent::ConnectionCreatedV2(ConnectionAdded {
            kind: sluice_schema::kinds::ConnectionKind::Postgres,
            params: serde_json::json!({}),
            details: "sealed".into(),
        })
    }

    #[test]
    fn a_connection_is_disconnected_once() {
        let live = connection(vec![added()]);
        let events = live.disconnect(ACCOUNT, Some(true)).unwrap();
        assert_eq!(
            events,
            vec![DomainEvent::ConnectionDisconnected(
                ConnectionDisconnected {
                    revoked_at_provider: Some(true)
                }
            )]
        );
        let gone = connection(vec![added(), events[0].clone()]);
        assert_eq!(gone.disconnect(ACCOUNT, None), Err(Refusal::NotFound));
    }

    #[test]
    fn an_unknown_or_foreign_connection_is_not_found() {
        assert_eq!(
            Connection::default().disconnect(ACCOUNT, None),
            Err(Refusal::NotFound)
        );
        let live = connection(vec![added()]);
        assert_eq!(
            live.disconnect(sluice_schema::ids::AccountId(Uuid::from_u128(3)), None),
            Err(Refusal::NotFound)
        );
    }
}
