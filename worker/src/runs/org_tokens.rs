//! Renewing a Salesforce connection's access token from a run: under a
//! lock on the connection's stored tokens (a row lock on its secret), so
//! that of two renewers at once (a run and a connection test, two runs)
//! only the first asks Salesforce and the second reuses its tokens. With
//! refresh token rotation, a second refresh with the same refresh token
//! would be refused and end the connection's session. What the refresh
//! answers is sealed at once, in the same transaction: the new access
//! token, a rotated refresh token, a moved instance URL.

use sluice_connectors::salesforce::{self as sf, Renewal, Renewed, SalesforceError};
use sluice_connectors::tokens::ProviderTokens;
use sluice_schema::ids::{AccountId, ConnectionId};
use sluice_schema::repo::connections;
use sluice_schema::PgPool;
use sluice_vault::{owner, Sealed, SharedKeyring};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A connection's stored tokens, as the renewal of a run's client.
#[derive(Clone)]
pub(super) struct StoredTokens {
    pub pool: PgPool,
    pub keyring: Arc<SharedKeyring>,
    pub http: reqwest::Client,
    pub app: crate::SalesforceApp,
    /// The login URL the org was connected through, if recorded.
    pub login_url: Option<String>,
    pub account: AccountId,
    pub id: ConnectionId,
}

/// Why the stored tokens could not be renewed.
enum Failed {
    Db(diesel::result::Error),
    Salesforce(SalesforceError),
}

impl From<diesel::result::Error> for Failed {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

impl StoredTokens {
    /// On a blocking thread: `runtime` drives the refresh grant.
    fn renew_now(
        &self,
        runtime: &tokio::runtime::Handle,
        stale: &str,
    ) -> Result<ProviderTokens, SalesforceError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            SalesforceError::Unreachable(format!("the connection's tokens: {e}"))
        };
        let mut conn = self.pool.get().map_err(|e| unreachable(&e))?;
        let aad = owner::connection_secret(self.account, self.id);
        let app = sf::App {
            login_url: &self.app.login_url,
            client_id: &self.app.client_id,
            client_secret: &self.app.client_secret,
        };
        let open = |sealed: Vec<u8>| -> Result<ProviderTokens, SalesforceError> {
            let sealed = Sealed(sealed);
            let plain = self
                .keyring
                .with(|k| k.open(&sealed, &aad))
                .map_err(|e| unreachable(&e))?;
            serde_json::from_slice(&Zeroizing::new(plain)).map_err(|_| SalesforceError::Reconnect)
        };
        let stored = connections::renew_secret(&mut conn, self.account, self.id, |sealed| {
            let stored = open(sealed).map_err(Failed::Salesforce)?;
            let next = sf::renew_stored(
                runtime,
                &self.http,
                &app,
                self.login_url.as_deref(),
                stale,
                &stored,
            )
            .map_err(Failed::Salesforce)?;
            let Some(next) = next else {
                return Ok(None);
            };
            let plain = Zeroizing::new(
                serde_json::to_vec(&next).map_err(|e| Failed::Salesforce(unreachable(&e)))?,
            );
            Ok(Some(self.keyring.get().seal(&plain, &aad).0))
        })
        .map_err(|e| match e {
            Failed::Db(e) => unreachable(&e),
            Failed::Salesforce(e) => e,
        })?;
        open(stored)
    }
}

impl Renewal for StoredTokens {
    fn renew<'a>(
        &'a self,
        stale: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Renewed, SalesforceError>> {
        Box::pin(async move {
            let runtime = tokio::runtime::Handle::current();
            let (this, stale) = (self.clone(), stale.to_owned());
            let tokens = tokio::task::spawn_blocking(move || this.renew_now(&runtime, &stale))
                .await
                .map_err(|e| SalesforceError::Unreachable(e.to_string()))??;
            Ok(Renewed {
                access_token: Zeroizing::new(tokens.access_token),
                instance_url: tokens.instance_url,
            })
        })
    }
}
