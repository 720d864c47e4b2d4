use super::*;

#[track_caller]
fn refused_at(text: &str, position: usize, message: &str) {
    let error = refused(text);
    assert_eq!(
        (error.position, error.message.as_str()),
        (position, message),
        "{text}"
    );
}

#[test]
fn a_missing_column_is_named_with_the_closest_one() {
    refused_at("[Emial]", 1, "no column named Emial; did you mean Email?");
    refused_at(
        "UPPER([nmae])",
        7,
        "no column named nmae; did you mean Name?",
    );
    refused_at("[email]", 1, "no column named email; did you mean Email?");
    refused_at("[Zip code]", 1, "no column named Zip code");
    assert_eq!(
        refused("[Emial]").to_string(),
        "at position 1: no column named Emial; did you mean Email?"
    );
}

#[test]
fn positions_count_characters_not_bytes() {
    refused_at(
        "\"Zoë\" & [Emial]",
        9,
        "no column named Emial; did you mean Email?",
    );
}

#[test]
fn an_unknown_function_or_a_wrong_count_of_arguments_is_refused() {
    refused_at(
        "LEFTT([Name], 2)",
        1,
        "unknown function LEFTT; did you mean LEFT?",
    );
    refused_at(
        "1 + lenn(\"a\")",
        5,
        "unknown function lenn; did you mean LEN?",
    );
    refused_at("FETCH(\"http://x\")", 1, "unknown function FETCH");
    refused_at("left([Name], 2, 3)", 1, "LEFT takes 2 arguments, not 3");
    refused_at("IF(TRUE)", 1, "IF takes 2 to 3 arguments, not 1");
    refused_at("CONCAT()", 1, "CONCAT takes at least 1 argument, not 0");
    refused_at("TODAY(1)", 1, "TODAY takes 0 arguments, not 1");
}

#[test]
fn syntax_errors_say_what_was_expected_where() {
    refused_at("", 1, "expected a value, found the end of the formula");
    refused_at("1 +", 4, "expected a value, found the end of the formula");
    refused_at(
        "(1 + 2",
        7,
        "expected `)` or an operator, found the end of the formula",
    );
    refused_at(
        "1 2",
        3,
        "expected an operator or the end of the formula, found `2`",
    );
    refused_at("LEFT([Name],)", 13, "expected a value, found `)`");
    refused_at(
        "LEFT([Name] 2)",
        13,
        "expected `)`, `,` or an operator, found `2`",
    );
    refused_at(
        "\"abc",
        1,
        "expected a closing `\"` for the text that starts here",
    );
    refused_at(
        "[Name",
        1,
        "expected a closing `]` for the column name that starts here",
    );
    refused_at("[]", 1, "a column name between [ and ] is empty");
    refused_at(
        "Email",
        1,
        "expected `(` after the function name Email; a column is written [Email]",
    );
    refused_at(
        "1 = 1 = 1",
        7,
        "expected an operator or the end of the formula, found `=`",
    );
    refused_at("1 + ?", 5, "expected a value, found `?`");
}

#[test]
fn settings_are_checked_when_the_formula_is_saved() {
    refused_at(
        "REGEX_MATCH([Name], \"(\")",
        21,
        "the pattern is not a regular expression: unclosed group",
    );
    refused_at(
        "REGEX_MATCH([Name], [Name])",
        21,
        "REGEX_MATCH's pattern is text in quotes, written in the formula",
    );
    refused_at(
        "DATE([Joined], \"%Q\")",
        16,
        crate::mapping::read::BAD_DATE_FORMAT,
    );
    refused_at(
        "DATE([Joined], \"%d\", \"Mars/Olympus\")",
        22,
        "Mars/Olympus is not a time zone name (such as Europe/Berlin)",
    );
    let error = refused("NUMBER([Amount], \"xx\")");
    assert_eq!(error.position, 18);
    assert!(
        error.message.starts_with("NUMBER's locale is not one"),
        "{error}"
    );
    refused_at(
        "MAP([Country], \"DE\")",
        16,
        "MAP's second argument is a table such as {\"a\": \"x\", \"b\": \"y\"}",
    );
    refused_at(
        "MAP([Country], {\"a\": \"x\", \"a\": \"y\"})",
        27,
        "this key is already in the table",
    );
    refused_at(
        "{\"a\": \"b\"}",
        1,
        "a {…} table can only be MAP's second argument",
    );
    refused_at(
        "MAP([Country], {\"a\" \"x\"})",
        21,
        "expected `:`, found `\"`",
    );
}

/// The cell's value, which no error may repeat.
const SECRET: &str = "s3cret-Ünal";

fn fails(formula: &str, cells: &[(&str, &str)]) -> String {
    let error = run(formula, cells).expect_err(formula);
    assert!(
        !error.contains(SECRET),
        "{formula} quoted the value: {error}"
    );
    assert!(
        !error.contains("s3cret"),
        "{formula} quoted the value: {error}"
    );
    error
}

#[test]
fn a_row_fails_with_the_column_and_never_its_value() {
    let secret = |column| [(column, SECRET)];
    assert_eq!(
        fails("[Amount] + 1", &secret("Amount")),
        "[Amount] is not a number; NUMBER(text, locale) reads numbers written other ways, \
         and & joins text"
    );
    assert!(fails("[Amount] * 2", &secret("Amount")).starts_with("[Amount] is not a number"));
    assert!(fails("-[Amount]", &secret("Amount")).starts_with("[Amount] is not a number"));
    assert!(fails("[Amount] > 5", &secret("Amount")).starts_with("[Amount] is not a number"));
    assert_eq!(
        fails("NUMBER([Amount], \"de\")", &secret("Amount")),
        "[Amount] is not a number as de writes them"
    );
    assert_eq!(
        fails("DATE([Joined], \"%Y-%m-%d\")", &secret("Joined")),
        "[Joined] is not a date in the format %Y-%m-%d"
    );
    assert_eq!(
        fails("IF([Active], 1, 2)", &secret("Active")),
        "[Active] is not true or false"
    );
    assert!(fails("LEFT([Name], [Qty])", &secret("Qty")).contains("[Qty]"));
    assert!(fails("[Joined] < TODAY()", &secret("Joined")).starts_with("[Joined] is not a date"));
    let error = fails("UPPER([Name]) * 2", &secret("Name"));
    assert_eq!(error, "the UPPER at position 1 is not a number; NUMBER(text, locale) reads numbers written other ways, and & joins text");
}

#[test]
fn division_by_zero_fails_the_row() {
    let cells = [("Amount", "10"), ("Qty", "0")];
    assert_eq!(
        fails("[Amount] / [Qty]", &cells),
        "division by zero: [Qty] is 0"
    );
    assert_eq!(
        fails("1 / (2 - 2)", &[]),
        "division by zero: the value at position 6 is 0"
    );
}

#[test]
fn a_number_too_large_fails_the_row() {
    let huge = format!("1{}", "0".repeat(300));
    let error = fails("[Amount] * [Amount]", &[("Amount", &huge)]);
    assert_eq!(error, "the number made at position 1 is too large");
}
