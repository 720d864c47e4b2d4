//! A job's filter: a formula over the source's columns that holds for the
//! rows to write. The others are skipped (a run lists them in its
//! skipped.csv); a row the filter cannot decide for (a value of the wrong
//! type, a division by zero) fails, as a row the mapping cannot map does.

use crate::formula::{EvalContext, Formula};

/// Why a row the filter does not hold for is skipped.
pub const FILTERED_OUT: &str = "the job's filter is false for this row";

/// A job's filter, checked against a source's header.
#[derive(Debug, Clone)]
pub struct Filter {
    formula: Formula,
    context: EvalContext,
}

impl Filter {
    /// Parses and checks `text` against `header`; the error is the message
    /// to show (`filter: at position 3: ...`).
    pub fn new(text: &str, header: &[String], context: EvalContext) -> Result<Self, String> {
        let formula = Formula::parse(text, header).map_err(|e| format!("filter: {e}"))?;
        Ok(Self { formula, context })
    }

    /// The filter of a job, if it has one.
    pub fn of(
        text: Option<&str>,
        header: &[String],
        context: EvalContext,
    ) -> Result<Option<Self>, String> {
        text.map(|text| Self::new(text, header, context))
            .transpose()
    }

    /// Whether the row, whose cells `row` gives by their position in the
    /// header, is written: the filter's value read as a condition (blank
    /// and 0 are false). The error names the filter's position or a
    /// column, never a cell's value.
    pub fn keeps<'r>(&'r self, row: impl Fn(usize) -> Option<&'r str>) -> Result<bool, String> {
        self.formula
            .holds(row, &self.context)
            .map_err(|e| format!("filter: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn filter(text: &str) -> Result<Filter, String> {
        let context = EvalContext {
            now: chrono::Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap(),
            time_zone: chrono_tz::UTC,
        };
        Filter::new(text, &["Country".into(), "Amount".into()], context)
    }

    fn keeps(text: &str, row: [&str; 2]) -> Result<bool, String> {
        filter(text)?.keeps(|i| row.get(i).copied())
    }

    #[test]
    fn a_filter_keeps_the_rows_it_holds_for() {
        assert_eq!(keeps("[Country] = \"DE\"", ["DE", ""]), Ok(true));
        assert_eq!(keeps("[Country] = \"DE\"", ["FR", ""]), Ok(false));
        assert_eq!(keeps("[Amount] * 1 > 10", ["", "12"]), Ok(true));
    }

    #[test]
    fn a_value_that_is_not_a_condition_is_read_as_the_language_reads_one() {
        // Blank and 0 are false; text true/false/1/0 is read.
        assert_eq!(keeps("[Amount]", ["", ""]), Ok(false));
        assert_eq!(keeps("[Amount]", ["", "1"]), Ok(true));
        assert_eq!(keeps("[Amount] * 1", ["", "0"]), Ok(false));
        let error = keeps("[Country]", ["Germany", ""]).unwrap_err();
        assert!(error.starts_with("filter: "), "{error}");
        assert!(!error.contains("Germany"), "{error}");
    }

    #[test]
    fn a_filter_that_cannot_decide_fails_the_row_without_its_value() {
        let error = keeps("10 / [Amount] > 1", ["", "0"]).unwrap_err();
        assert!(error.starts_with("filter: "), "{error}");
        let error = keeps("[Amount] + 1 > 1", ["", "twelve"]).unwrap_err();
        assert!(!error.contains("twelve"), "{error}");
    }

    #[test]
    fn a_filter_naming_a_missing_column_is_refused_with_its_position() {
        let error = filter("[Contry] = \"DE\"").unwrap_err();
        assert!(
            error.starts_with("filter: at position 1: no column named Contry"),
            "{error}"
        );
        assert!(error.contains("did you mean Country?"), "{error}");
    }
}
