//! The closed sets of names Sluice keeps in its rows and events: a user's
//! role, an account's plan, a connection's kind, a run's kind and status.
//! Each is stored and sent as the same lower-case text as before (so old
//! rows and events read as they are), and is an enum everywhere in between.
//! A name the code does not know is an error where it is read, never a
//! silent default.

use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;

/// A name outside its set, as read from a row, an event or a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a {set}")]
pub struct UnknownName {
    pub set: &'static str,
    pub name: String,
}

macro_rules! names {
    ($(#[$doc:meta])* $set:literal $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            Serialize, Deserialize, AsExpression, FromSqlRow,
        )]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every name of the set, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The name as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownName;

            fn from_str(text: &str) -> Result<Self, UnknownName> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownName { set: $set, name: text.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                Ok(text.parse()?)
            }
        }
    };
}

pub(crate) use names;

names! {
    /// What a user may do in their account; ordered from least to most.
    "role" Role {
        /// Sees everything, runs jobs, rolls runs back.
        Member => "member",
        /// Also manages jobs, connections, users, billing and settings.
        Admin => "admin",
        /// Also erases the account and changes roles; one per account.
        Owner => "owner",
    }
}

names! {
    /// What an account pays for, cheapest first (see [`crate::plans`]).
    "plan" Plan {
        Free => "free",
        Pro => "pro",
        Enterprise => "enterprise",
    }
}

names! {
    /// What a connection reaches.
    "connection kind" ConnectionKind {
        /// A PostgreSQL database, by host and password.
        Postgres => "postgres",
        /// A Salesforce org, by OAuth.
        Salesforce => "salesforce",
        /// A Dropbox account, by OAuth (files to import).
        Dropbox => "dropbox",
    }
}

names! {
    /// What a run does.
    "run kind" RunKind {
        /// Writes a job's source into its target.
        Import => "import",
        /// Undoes what an earlier run wrote.
        Rollback => "rollback",
    }
}

names! {
    /// Which rows a trial run writes.
    "sample order" SampleOrder {
        /// Rows chosen at random, reproducibly, from the run's seed.
        Random => "random",
        /// The source's first rows.
        First => "first",
    }
}

names! {
    /// Where a run is: queued, at work, or how it ended.
    "run status" RunStatus {
        Queued => "queued",
        Running => "running",
        RollingBack => "rolling_back",
        /// Every row written.
        Succeeded => "succeeded",
        /// Some rows written, some refused.
        PartiallySucceeded => "partially_succeeded",
        /// No row written, or the run stopped as a whole.
        Failed => "failed",
        /// A rollback that undid every row.
        RolledBack => "rolled_back",
    }
}

impl RunStatus {
    /// Whether the run has ended (its status no longer changes).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running | Self::RollingBack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_itself_in_text_and_json() {
        fn round_trip<T>(all: &[T])
        where
            T: Copy + fmt::Display + std::str::FromStr + PartialEq + fmt::Debug,
            T: Serialize + for<'de> Deserialize<'de>,
            <T as std::str::FromStr>::Err: fmt::Debug,
        {
            for &value in all {
                let text = value.to_string();
                assert_eq!(text.parse::<T>().unwrap(), value);
                let json = serde_json::to_value(value).unwrap();
                assert_eq!(json, serde_json::Value::String(text));
                assert_eq!(serde_json::from_value::<T>(json).unwrap(), value);
            }
        }
        round_trip(Role::ALL);
        round_trip(Plan::ALL);
        round_trip(ConnectionKind::ALL);
        round_trip(RunKind::ALL);
        round_trip(RunStatus::ALL);
        round_trip(SampleOrder::ALL);
    }

    #[test]
    fn the_names_are_the_ones_rows_and_events_hold() {
        let names = |all: &[&str]| all.join(" ");
        assert_eq!(
            names(&Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
            "member admin owner"
        );
        assert_eq!(
            names(&Plan::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>()),
            "free pro enterprise"
        );
        assert_eq!(
            names(
                &RunStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
            ),
            "queued running rolling_back succeeded partially_succeeded failed rolled_back"
        );
    }

    #[test]
    fn an_unknown_name_is_an_error_that_names_its_set() {
        let e = "Owner".parse::<Role>().unwrap_err();
        assert_eq!(e.to_string(), "\"Owner\" is not a role");
        assert!("gold".parse::<Plan>().is_err());
        assert!(serde_json::from_str::<RunKind>("\"undo\"").is_err());
    }

    #[test]
    fn roles_are_ordered_by_what_they_may_do() {
        assert!(Role::Member < Role::Admin && Role::Admin < Role::Owner);
    }

    #[test]
    fn only_ended_runs_are_final() {
        let ended: Vec<_> = RunStatus::ALL.iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            ended,
            [
                &RunStatus::Succeeded,
                &RunStatus::PartiallySucceeded,
                &RunStatus::Failed,
                &RunStatus::RolledBack
            ]
        );
    }
}
