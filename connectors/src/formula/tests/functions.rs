use super::*;

fn with(formula: &str, cells: &[(&str, &str)]) -> String {
    run(formula, cells)
        .unwrap_or_else(|e| panic!("{formula}: {e}"))
        .unwrap_or_default()
}

#[test]
fn if_chooses_one_branch_and_evaluates_only_that() {
    assert_eq!(text("IF(1 < 2, \"yes\", \"no\")"), "yes");
    assert_eq!(text("IF(1 > 2, \"yes\", \"no\")"), "no");
    assert_eq!(run("IF(1 > 2, \"yes\")", &[]).unwrap(), None);
    assert_eq!(text("IF(TRUE, 1, 1 / 0)"), "1");
    assert_eq!(text("if(false, 1 / 0, 2)"), "2");
}

#[test]
fn logic_functions_match_the_operators() {
    assert_eq!(text("AND(TRUE, 1 = 1, \"true\")"), "true");
    assert_eq!(text("AND(TRUE, FALSE)"), "false");
    assert_eq!(text("OR(FALSE, 0, \"1\")"), "true");
    assert_eq!(text("NOT(FALSE)"), "true");
    // Both stop at the first operand that decides.
    assert_eq!(text("OR(TRUE, 1 / 0 > 1)"), "true");
    assert_eq!(text("FALSE AND 1 / 0 > 1"), "false");
    for (cell, truth) in [("TRUE", "y"), ("false", "n"), ("1", "y"), (" 0 ", "n")] {
        assert_eq!(
            with("IF([Active], \"y\", \"n\")", &[("Active", cell)]),
            truth
        );
    }
}

#[test]
fn left_right_and_mid_count_characters() {
    assert_eq!(text("LEFT(\"Zoë\", 2)"), "Zo");
    assert_eq!(text("LEFT(\"Zoë\", 3)"), "Zoë");
    assert_eq!(text("RIGHT(\"Zoë\", 1)"), "ë");
    assert_eq!(text("LEFT(\"abc\", 10)"), "abc");
    assert_eq!(text("RIGHT(\"abc\", 10)"), "abc");
    assert_eq!(run("LEFT(\"abc\", 0)", &[]).unwrap(), None);
    assert_eq!(text("MID(\"Zoë Ünal\", 3, 3)"), "ë Ü");
    assert_eq!(text("MID(\"abc\", 2, 10)"), "bc");
    assert_eq!(run("MID(\"abc\", 5, 2)", &[]).unwrap(), None);
    assert_eq!(
        with(
            "LEFT([Phone], [Qty])",
            &[("Phone", "0301234"), ("Qty", "3")]
        ),
        "030"
    );
    let error = run("LEFT(\"abc\", -1)", &[]).unwrap_err();
    assert!(error.contains("LEFT's count is negative"), "{error}");
    let error = run("LEFT(\"abc\", 1.5)", &[]).unwrap_err();
    assert!(error.contains("not a whole number"), "{error}");
    let error = run("MID(\"abc\", 0, 1)", &[]).unwrap_err();
    assert!(error.contains("the first character is 1"), "{error}");
}

#[test]
fn len_trim_and_case() {
    assert_eq!(text("LEN(\"Zoë\")"), "3");
    assert_eq!(text("LEN(\"\")"), "0");
    assert_eq!(text("LEN(12.50)"), "4");
    assert_eq!(text("TRIM(\"  a  b \t\")"), "a  b");
    assert_eq!(text("UPPER(\"straße\")"), "STRASSE");
    assert_eq!(text("LOWER(\"ÄB\")"), "äb");
    assert_eq!(text("Upper(\"x\") & lower(\"Y\")"), "Xy");
}

#[test]
fn replace_and_regular_expressions() {
    assert_eq!(text("REPLACE(\"a-b-c\", \"-\", \"+\")"), "a+b+c");
    assert_eq!(text("REPLACE(\"abc\", \"\", \"x\")"), "abc");
    assert_eq!(text("REPLACE(\"abc\", \"b\", \"\")"), "ac");
    let phone = [("Phone", "+49 (30) 123-45")];
    assert_eq!(
        with("REGEX_REPLACE([Phone], \"[^0-9+]\", \"\")", &phone),
        "+493012345"
    );
    assert_eq!(
        with(
            "REGEX_REPLACE([Email], \"^(\\w+)@(.+)$\", \"$2/${1}\")",
            &[("Email", "ada@example.com")]
        ),
        "example.com/ada"
    );
    assert_eq!(with("REGEX_MATCH([Phone], \"^\\+49\")", &phone), "true");
    assert_eq!(with("REGEX_MATCH([Phone], \"^0\")", &phone), "false");
    assert_eq!(text("REGEX_MATCH(\"Zoë\", \"^\\w+$\")"), "true");
}

#[test]
fn split_takes_one_part() {
    assert_eq!(text("SPLIT(\"a,b,c\", \",\", 2)"), "b");
    assert_eq!(text("SPLIT(\"a,b,c\", \",\", -1)"), "c");
    assert_eq!(text("SPLIT(\"a,b,c\", \",\", -3)"), "a");
    assert_eq!(text("SPLIT(\"Ada Lovelace\", \" \", 1)"), "Ada");
    assert_eq!(text("SPLIT(\"a::b\", \"::\", 2)"), "b");
    assert_eq!(run("SPLIT(\"a,b,c\", \",\", 4)", &[]).unwrap(), None);
    assert_eq!(run("SPLIT(\"a,b,c\", \",\", -4)", &[]).unwrap(), None);
    assert_eq!(run("SPLIT(\"a,b,c\", \",\", 0)", &[]).unwrap(), None);
    let error = run("SPLIT(\"a\", \"\", 1)", &[]).unwrap_err();
    assert!(error.contains("separator"), "{error}");
}

#[test]
fn concat_joins_every_kind() {
    assert_eq!(
        text("CONCAT(\"a\", 1.50, TRUE, [Name], \"z\")"),
        "a1.5truez"
    );
    assert_eq!(
        text("CONCAT(DATE(\"2025-01-02\", \"%Y-%m-%d\"))"),
        "2025-01-02"
    );
}

#[test]
fn map_looks_a_value_up() {
    let map = "MAP([Country], {\"Deutschland\": \"DE\", \"France\": \"FR\"}, \"XX\")";
    assert_eq!(with(map, &[("Country", "Deutschland")]), "DE");
    assert_eq!(with(map, &[("Country", "Spain")]), "XX");
    let no_default = "MAP([Country], {\"Deutschland\": \"DE\"})";
    assert_eq!(with(no_default, &[("Country", "Spain")]), "Spain");
    assert_eq!(run(no_default, &[]).unwrap(), None);
    assert_eq!(with("MAP([Country], {\"\": \"unknown\"})", &[]), "unknown");
    assert_eq!(with("MAP(1 + 1, {\"2\": \"two\"}, [Name])", &[]), "two");
    assert_eq!(with("map([Country], {})", &[("Country", "x")]), "x");
}

#[test]
fn date_reads_a_format_in_a_time_zone() {
    assert_eq!(text("DATE(\"24.12.2025\", \"%d.%m.%Y\")"), "2025-12-24");
    assert_eq!(
        text("DATE(\"01.07.2025 12:00\", \"%d.%m.%Y %H:%M\", \"Europe/Berlin\")"),
        "2025-07-01T10:00:00+00:00"
    );
    assert_eq!(
        text("DATE(\"01.07.2025 12:00\", \"%d.%m.%Y %H:%M\", \"America/New_York\")"),
        "2025-07-01T16:00:00+00:00"
    );
    // Without a zone, the run's (here Berlin) is used.
    assert_eq!(
        text("DATE(\"01.01.2025 12:00\", \"%d.%m.%Y %H:%M\")"),
        "2025-01-01T11:00:00+00:00"
    );
    // A time with its own offset keeps it.
    assert_eq!(
        text("DATE(\"2025-07-01 12:00 +0530\", \"%Y-%m-%d %H:%M %z\", \"UTC\")"),
        "2025-07-01T12:00:00+05:30"
    );
    assert_eq!(
        with(
            "DATE([Joined], \"%m/%d/%Y\")",
            &[("Joined", " 12/24/2025 ")]
        ),
        "2025-12-24"
    );
    assert_eq!(run("DATE([Joined], \"%d.%m.%Y\")", &[]).unwrap(), None);
    let error = run("DATE([Joined], \"%d.%m.%Y\")", &[("Joined", "2025-12-24")]).unwrap_err();
    assert_eq!(error, "[Joined] is not a date in the format %d.%m.%Y");
    let gap = "DATE(\"30.03.2025 02:30\", \"%d.%m.%Y %H:%M\", \"Europe/Berlin\")";
    assert!(run(gap, &[]).unwrap_err().contains("clock change"));
}

#[test]
fn number_reads_the_way_a_locale_writes() {
    assert_eq!(
        with("NUMBER([Amount], \"de\")", &[("Amount", "1.234,5")]),
        "1234.5"
    );
    assert_eq!(
        with("NUMBER([Amount], \"de-CH\")", &[("Amount", "1'234,50")]),
        "1234.5"
    );
    assert_eq!(
        with("NUMBER([Amount], \"en\")", &[("Amount", "1,234.5")]),
        "1234.5"
    );
    assert_eq!(with("NUMBER([Amount])", &[("Amount", "-7")]), "-7");
    assert_eq!(
        with("NUMBER([Amount], \"de\") * 2", &[("Amount", "1.234,50")]),
        "2469"
    );
    assert_eq!(run("NUMBER([Amount], \"de\")", &[]).unwrap(), None);
    let error = run("NUMBER([Amount], \"de\")", &[("Amount", "12x")]).unwrap_err();
    assert_eq!(error, "[Amount] is not a number as de writes them");
}

#[test]
fn today_and_now_come_from_the_run() {
    // 23:30 UTC is already the next day in Berlin.
    assert_eq!(text("TODAY()"), "2026-12-04");
    assert_eq!(text("NOW()"), "2026-12-03T23:30:00+00:00");
    let utc = EvalContext {
        time_zone: chrono_tz::UTC,
        ..context()
    };
    let today = formula("today()");
    assert_eq!(
        today.eval(|_| None, &utc).unwrap().into_text().unwrap(),
        "2026-12-03"
    );
}
