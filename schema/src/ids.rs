//! Typed identifiers: a probe id can never be passed where an account id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A tenant: every tenant-owned row carries one.
    AccountId
);
id_type!(
    /// One event in the log.
    EventId
);
id_type!(
    /// An end-to-end pipeline probe (an operator's no-op command).
    ProbeId
);
id_type!(
    /// A person who signs in; belongs to one account.
    UserId
);
id_type!(
    /// A session or an API token (its secret is never stored).
    TokenId
);
id_type!(
    /// A connection to a team's own system.
    ConnectionId
);
id_type!(
    /// An uploaded file.
    UploadId
);
id_type!(
    /// An import job.
    JobId
);
id_type!(
    /// A run of a job.
    RunId
);
id_type!(
    /// An account's saved mapping.
    MappingTemplateId
);
