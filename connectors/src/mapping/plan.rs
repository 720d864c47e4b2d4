//! A mapping resolved against a source's header ([`Plan`]), applied to each
//! row; and the fields a lookup sets.

use super::{check_bounds, Apply, FieldMapping, Lookup, Transform};
use crate::source::Fields;
use std::borrow::Cow;

/// The fields of `mapping` set by a lookup: their position, and where to
/// look.
pub fn lookups<'a>(mapping: impl IntoIterator<Item = &'a FieldMapping>) -> Vec<(usize, Lookup)> {
    mapping
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| match f.transform.list().last() {
            Some(Transform::Lookup(lookup)) => Some((i, lookup.clone())),
            _ => None,
        })
        .collect()
}

/// A mapping ready to apply to rows with a given header.
#[derive(Debug, Clone)]
pub struct Plan {
    fields: Vec<(Option<usize>, FieldMapping)>,
}

impl Plan {
    /// Resolves source columns against `header`; a missing column or a bad
    /// transform is an error naming it.
    pub fn new(mapping: &[FieldMapping], header: &[String]) -> Result<Self, String> {
        if mapping.is_empty() {
            return Err("the mapping is empty: map at least one field".into());
        }
        check_bounds(mapping)?;
        let mut fields = Vec::with_capacity(mapping.len());
        for field in mapping {
            let transforms = field.transform.list();
            for (i, transform) in transforms.iter().enumerate() {
                transform
                    .check()
                    .map_err(|e| format!("{}: {e}", field.target))?;
                if matches!(transform, Transform::Lookup(_)) && i + 1 != transforms.len() {
                    return Err(format!(
                        "{}: a lookup is the last transform of its field",
                        field.target
                    ));
                }
            }
            let index = match &field.source {
                Some(source) => Some(
                    header
                        .iter()
                        .position(|h| h == source)
                        .ok_or_else(|| format!("the source has no column \"{source}\""))?,
                ),
                None => {
                    let constant = field.transform.list().iter().any(|t| {
                        matches!(t, Transform::Constant { .. } | Transform::Default { .. })
                    });
                    if !constant {
                        return Err(format!(
                            "{}: give a source column, or a constant or default transform",
                            field.target
                        ));
                    }
                    None
                }
            };
            fields.push((index, field.clone()));
        }
        Ok(Self { fields })
    }

    pub fn targets(&self) -> Vec<&str> {
        self.fields.iter().map(|(_, f)| f.target.as_str()).collect()
    }

    /// The fields set by a lookup: their position among the targets, and
    /// where to look.
    pub fn lookups(&self) -> Vec<(usize, Lookup)> {
        lookups(self.fields.iter().map(|(_, f)| f))
    }

    /// The target values of one row, in [`Plan::targets`] order; the error
    /// names the field.
    pub fn apply(&self, row: &[String]) -> Result<Vec<Option<String>>, String> {
        self.values(|i| row.get(i).map(String::as_str))
            .map(|values| values.into_iter().map(|v| v.map(Cow::into_owned)).collect())
    }

    /// The target values of one row as a source reads it: a value that no
    /// transform changes borrows the row's text.
    pub fn apply_to<'r>(&self, row: &'r Fields) -> Result<Vec<Option<Cow<'r, str>>>, String> {
        self.values(|i| row.get(i))
    }

    fn values<'r>(
        &self,
        field: impl Fn(usize) -> Option<&'r str>,
    ) -> Result<Vec<Option<Cow<'r, str>>>, String> {
        self.fields
            .iter()
            .map(|(index, mapping)| {
                let raw = index
                    .and_then(&field)
                    .filter(|v| !v.is_empty())
                    .map(Cow::Borrowed);
                mapping
                    .transform
                    .list()
                    .iter()
                    .try_fold(raw, |value, t| t.apply(value))
                    .map_err(|e| format!("{}: {e}", mapping.target))
            })
            .collect()
    }
}
