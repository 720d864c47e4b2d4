//! The version of a keyring key that wraps a data key, as the rows keep it.
//!
//! The keyring numbers its keys with `u32`; the columns are PostgreSQL
//! `integer`. A version is written as it is, or refused with an error if it
//! does not fit the column; a negative number read back is an error too.
//! Neither is ever clamped to another version.

use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::Integer;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;

/// A keyring key's version (`kek_version`, `key_rotations.primary_key`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
)]
#[serde(transparent)]
#[diesel(sql_type = Integer)]
pub struct KeyVersion(pub u32);

impl KeyVersion {
    /// The version as the keyring numbers it.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for KeyVersion {
    fn from(version: u32) -> Self {
        Self(version)
    }
}

impl fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A key version beyond what an `integer` column holds.
#[derive(Debug, thiserror::Error)]
#[error("key version {0} does not fit the database's integer column")]
pub struct OutOfRange(u32);

impl ToSql<Integer, Pg> for KeyVersion {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> diesel::serialize::Result {
        let value = i32::try_from(self.0).map_err(|_| OutOfRange(self.0))?;
        out.write_all(&value.to_be_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<Integer, Pg> for KeyVersion {
    fn from_sql(bytes: PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let value = <i32 as FromSql<Integer, Pg>>::from_sql(bytes)?;
        let version =
            u32::try_from(value).map_err(|_| format!("key version {value} is negative"))?;
        Ok(Self(version))
    }
}
