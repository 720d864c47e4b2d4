//! A mapping resolved against a source's header ([`Plan`]), applied to each
//! row; and the fields a lookup sets.

use super::{check_bounds, Apply, FieldMapping, Lookup, Transform};
use crate::formula::{EvalContext, Formula};
use crate::source::Fields;
use std::borrow::Cow;

/// Where a field's value comes from before its transforms.
#[derive(Debug, Clone)]
enum Input {
    /// A source column, by its position in the header.
    Column(usize),
    /// A formula over the row's columns.
    Formula(Box<Formula>),
    /// Nothing: a constant or default transform gives the value.
    Nothing,
}

/// Checks each formula of `mapping` against `header`: the first that does
/// not parse, or names a column the header lacks, is refused with the
/// request field it is in (`mapping[2].formula`, counted from 0) and the
/// message to show, which starts with that field and gives the position
/// in the formula (`mapping[2].formula: at position 1: no column named
/// Emial; did you mean Email?`).
pub fn check_formulas(
    mapping: &[FieldMapping],
    header: &[String],
) -> Result<Vec<Option<Formula>>, (String, String)> {
    mapping
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let Some(text) = &field.formula else {
                return Ok(None);
            };
            let at = format!("mapping[{i}].formula");
            if field.source.is_some() {
                let message = format!("{at}: give a source column or a formula, not both");
                return Err((at, message));
            }
            Formula::parse(text, header).map(Some).map_err(|e| {
                let message = format!("{at}: {e}");
                (at, message)
            })
        })
        .collect()
}

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
    fields: Vec<(Input, FieldMapping)>,
    /// The clock and zone of formulas' `TODAY()`, `NOW()` and `DATE`.
    context: EvalContext,
}

impl Plan {
    /// Resolves source columns and formulas against `header`; a missing
    /// column, a formula that does not parse or a bad transform is an
    /// error naming it. Formulas are evaluated in `context` (one run's).
    pub fn new(
        mapping: &[FieldMapping],
        header: &[String],
        context: EvalContext,
    ) -> Result<Self, String> {
        if mapping.is_empty() {
            return Err("the mapping is empty: map at least one field".into());
        }
        check_bounds(mapping)?;
        let formulas = check_formulas(mapping, header).map_err(|(_, message)| message)?;
        let mut fields = Vec::with_capacity(mapping.len());
        for (field, formula) in mapping.iter().zip(formulas) {
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
            let input = match (&field.source, formula) {
                (_, Some(formula)) => Input::Formula(Box::new(formula)),
                (Some(source), None) => Input::Column(
                    header
                        .iter()
                        .position(|h| h == source)
                        .ok_or_else(|| format!("the source has no column \"{source}\""))?,
                ),
                (None, None) => {
                    let constant = field.transform.list().iter().any(|t| {
                        matches!(t, Transform::Constant { .. } | Transform::Default { .. })
                    });
                    if !constant {
                        return Err(format!(
                            "{}: give a source column, a formula, or a constant or default \
                             transform",
                            field.target
                        ));
                    }
                    Input::Nothing
                }
            };
            fields.push((input, field.clone()));
        }
        Ok(Self { fields, context })
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
    /// A formula's text that it keeps unchanged (a cell, a literal)
    /// borrows the row or the plan.
    pub fn apply_to<'r>(&'r self, row: &'r Fields) -> Result<Vec<Option<Cow<'r, str>>>, String> {
        self.values(|i| row.get(i))
    }

    fn values<'r>(
        &'r self,
        field: impl Fn(usize) -> Option<&'r str> + Copy,
    ) -> Result<Vec<Option<Cow<'r, str>>>, String> {
        self.fields
            .iter()
            .map(|(input, mapping)| {
                let raw = match input {
                    Input::Column(index) => {
                        field(*index).filter(|v| !v.is_empty()).map(Cow::Borrowed)
                    }
                    Input::Formula(formula) => formula
                        .eval(field, &self.context)
                        .map_err(|e| format!("{}: {e}", mapping.target))?
                        .into_text(),
                    Input::Nothing => None,
                };
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
