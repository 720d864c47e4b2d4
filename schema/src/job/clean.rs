//! What a job does to its rows besides mapping them: drop duplicates
//! ([`Dedupe`]) and say what a blank value does to a field ([`BlankValues`]).
//! What they do to rows is `sluice_connectors::mapping`'s.

use serde::{Deserialize, Serialize};

/// The most fields a job de-duplicates on.
pub const MAX_DEDUPE_FIELDS: usize = 8;

/// What an unknown `blank_values` is told (serde's own message would quote
/// it).
pub const UNKNOWN_BLANK_VALUES: &str = "blank_values is one of leave, clear";

/// What an unknown `dedupe.keep` is told.
pub const UNKNOWN_KEEP: &str = "dedupe.keep is one of first, last";

/// Rows whose mapped values of `fields` are the same are duplicates: one of
/// them is written, the others skipped (listed in the run's skipped.csv).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Dedupe {
    /// Target fields of the mapping, 1 to 8, compared on the values as
    /// mapped (after formulas and transforms). A row with a blank in any
    /// of them is never a duplicate, as SQL treats NULL.
    pub fields: Vec<String>,
    /// Whether values are compared after Unicode lowercasing (false: exact).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub case_insensitive: bool,
    /// Which occurrence is written: the first (default) or the last.
    #[serde(default, deserialize_with = "keep")]
    pub keep: Keep,
}

/// Which of several duplicates a run writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    #[default]
    First,
    /// The last: a run reads the source once more before it writes.
    Last,
}

/// What a blank mapped value does to its target field when a row is
/// changed (an update, or an upsert of a row that exists).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BlankValues {
    /// The field is left as it is.
    Leave,
    /// The field is cleared: NULL in PostgreSQL, null in Salesforce (what
    /// Sluice has always done, and so the default).
    #[default]
    Clear,
}

impl BlankValues {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn keep<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Keep, D::Error> {
    let name = String::deserialize(d)?;
    match name.as_str() {
        "first" => Ok(Keep::First),
        "last" => Ok(Keep::Last),
        _ => Err(serde::de::Error::custom(UNKNOWN_KEEP)),
    }
}

/// A `blank_values` by its name (serde's message would quote an unknown one).
pub fn blank_values<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BlankValues, D::Error> {
    let name = String::deserialize(d)?;
    match name.as_str() {
        "leave" => Ok(BlankValues::Leave),
        "clear" => Ok(BlankValues::Clear),
        _ => Err(serde::de::Error::custom(UNKNOWN_BLANK_VALUES)),
    }
}
