use super::*;
use std::borrow::Cow;

#[test]
fn operators_bind_as_in_arithmetic_and_logic() {
    assert_eq!(text("1 + 2 * 3"), "7");
    assert_eq!(text("(1 + 2) * 3"), "9");
    assert_eq!(text("-2 * 3"), "-6");
    assert_eq!(text("10 - 4 - 3"), "3");
    assert_eq!(text("8 / 4 / 2"), "1");
    assert_eq!(text("\"a\" & 1 + 2"), "a3");
    assert_eq!(text("1 + 2 = 3 AND NOT 1 > 2 OR FALSE"), "true");
    assert_eq!(text("NOT 1 = 2"), "true");
    assert_eq!(text("FALSE AND FALSE OR TRUE"), "true");
    assert_eq!(text("true and (false or true)"), "true");
}

#[test]
fn numbers_are_written_without_float_noise_or_trailing_zeros() {
    assert_eq!(text("1.5 + 1"), "2.5");
    assert_eq!(text("0.1 + 0.2"), "0.3");
    assert_eq!(text("10 / 4"), "2.5");
    assert_eq!(text("1 / 3"), "0.333333333333333");
    assert_eq!(text("2.50 * 2"), "5");
    assert_eq!(text("0 * -1"), "0");
    assert_eq!(text("1000000 * 1000000"), "1000000000000");
    assert_eq!(text("-0.000125"), "-0.000125");
}

#[test]
fn plus_joins_text_and_adds_numbers() {
    let cells = [
        ("Name", "Ada"),
        ("Country", "DE"),
        ("Amount", "41.5"),
        ("Qty", "2"),
    ];
    assert_eq!(
        run("[Name] + \" \" + [Country]", &cells).unwrap().unwrap(),
        "Ada DE"
    );
    assert_eq!(run("[Amount] + 1", &cells).unwrap().unwrap(), "42.5");
    assert_eq!(run("[Amount] + [Qty]", &cells).unwrap().unwrap(), "43.5");
    assert_eq!(run("UPPER([Name]) + 1", &cells).unwrap().unwrap(), "ADA1");
    assert_eq!(run("[Name] & [Qty]", &cells).unwrap().unwrap(), "Ada2");
    assert_eq!(run("[Qty] * 3 - [Qty]", &cells).unwrap().unwrap(), "4");
}

#[test]
fn literals_and_column_names_escape_their_quotes() {
    assert_eq!(text("\"say \"\"hi\"\"\""), "say \"hi\"");
    assert_eq!(
        run("[Price ]]net]", &[("Price ]net", "9")])
            .unwrap()
            .unwrap(),
        "9"
    );
    assert_eq!(text("TRUE"), "true");
    assert_eq!(text("false"), "false");
    assert_eq!(text("  \"spaced\"\n"), "spaced");
}

#[test]
fn comparisons_follow_the_kind_of_their_sides() {
    let cells = [
        ("Amount", "10"),
        ("Country", "DE"),
        ("Joined", "24.12.2025"),
    ];
    let yes = |f: &str| run(f, &cells).unwrap().unwrap();
    // A column compared with a number is read as one: 10 > 5, not "10" < "5".
    assert_eq!(yes("[Amount] > 5"), "true");
    assert_eq!(yes("\"10\" > \"5\""), "false");
    assert_eq!(yes("[Country] = \"DE\""), "true");
    assert_eq!(yes("[Country] <> \"de\""), "true");
    assert_eq!(yes("[Amount] >= 10 AND [Amount] <= 10"), "true");
    assert_eq!(yes("DATE([Joined], \"%d.%m.%Y\") < TODAY()"), "true");
    assert_eq!(yes("DATE([Joined], \"%d.%m.%Y\") = \"2025-12-24\""), "true");
    assert_eq!(yes("NOW() > DATE([Joined], \"%d.%m.%Y\")"), "true");
    // Two columns are text, compared as text unless one is made a number.
    let amounts = [("Amount", "10"), ("Qty", "9")];
    assert_eq!(run("[Amount] > [Qty]", &amounts).unwrap().unwrap(), "false");
    assert_eq!(
        run("NUMBER([Amount]) > [Qty]", &amounts).unwrap().unwrap(),
        "true"
    );
    // Text that is not a number is simply not equal to one.
    assert_eq!(yes("[Country] = 5"), "false");
    assert_eq!(yes("[Country] <> 5"), "true");
}

#[test]
fn blank_cells_are_no_value() {
    let blank: &[(&str, &str)] = &[];
    assert_eq!(run("[Amount] + 1", blank).unwrap(), None);
    assert_eq!(run("-[Amount]", blank).unwrap(), None);
    assert_eq!(run("[Name]", blank).unwrap(), None);
    assert_eq!(run("[Name] & \"!\"", blank).unwrap().unwrap(), "!");
    assert_eq!(run("ISBLANK([Name])", blank).unwrap().unwrap(), "true");
    assert_eq!(
        run("ISBLANK(TRIM([Name]))", &[("Name", "   ")])
            .unwrap()
            .unwrap(),
        "true"
    );
    assert_eq!(
        run("ISBLANK([Name])", &[("Name", "x")]).unwrap().unwrap(),
        "false"
    );
    assert_eq!(run("[Name] = \"\"", blank).unwrap().unwrap(), "true");
    assert_eq!(run("[Amount] > 0", blank).unwrap().unwrap(), "false");
    assert_eq!(run("[Amount] < 0", blank).unwrap().unwrap(), "false");
    assert_eq!(
        run("IF([Active], \"y\", \"n\")", blank).unwrap().unwrap(),
        "n"
    );
    assert_eq!(run("LEN([Name])", blank).unwrap().unwrap(), "0");
    assert_eq!(run("UPPER([Name])", blank).unwrap(), None);
    assert_eq!(
        run("COALESCE([Email], [Name], \"none\")", &[("Name", "Ada")])
            .unwrap()
            .unwrap(),
        "Ada"
    );
    assert_eq!(
        run("COALESCE([Email], [Name], \"none\")", blank)
            .unwrap()
            .unwrap(),
        "none"
    );
    assert_eq!(run("COALESCE([Email], [Name])", blank).unwrap(), None);
}

#[test]
fn unchanged_text_is_borrowed_not_copied() {
    let f = |text: &str| formula(text);
    let row = [
        "ada@example.com",
        "  Ada Lovelace  ",
        "",
        "",
        "",
        "",
        "",
        "",
        "+44 20,7946",
    ];
    let borrowed = |value: Value<'_>| matches!(value, Value::Text(Cow::Borrowed(_)));
    for text in [
        "[Email]",
        "TRIM([Name])",
        "LEFT([Email], 3)",
        "RIGHT([Email], 3)",
        "MID([Email], 5, 7)",
        "SPLIT([Phone], \",\", 2)",
        "\"constant\"",
        "MAP([Email], {\"ada@example.com\": \"known\"})",
        "IF(TRUE, [Email], \"x\")",
        "COALESCE([Amount], [Email])",
        "REPLACE([Email], \"#\", \"-\")",
        "REGEX_REPLACE([Email], \"#\", \"-\")",
    ] {
        let formula = f(text);
        assert!(
            borrowed(value_of(&formula, &row)),
            "{text} copied its value"
        );
    }
    assert_eq!(
        value_of(&f("TRIM([Name])"), &row),
        Value::Text("Ada Lovelace".into())
    );
}

#[test]
fn columns_lists_what_the_formula_reads_once_each() {
    let formula = formula("[Name] & [Email] & LOWER([Name])");
    assert_eq!(formula.columns(), ["Name", "Email"]);
    assert!(super::formula("TODAY()").columns().is_empty());
}

#[test]
fn dates_take_days_added_and_give_days_between() {
    let day = "DATE(\"24.12.2025\", \"%d.%m.%Y\")";
    assert_eq!(text(&format!("{day} + 8")), "2026-01-01");
    assert_eq!(text(&format!("{day} - 24")), "2025-11-30");
    assert_eq!(text(&format!("7 + {day}")), "2025-12-31");
    assert_eq!(text(&format!("TODAY() - {day}")), "345");
    assert_eq!(text("NOW() + 0.5"), "2026-12-04T11:30:00+00:00");
    assert!(run(&format!("{day} + 0.5"), &[])
        .unwrap_err()
        .contains("whole number of days"));
    assert!(run(&format!("{day} * 2"), &[]).is_err());
}

#[test]
fn values_become_target_text() {
    assert_eq!(Value::Bool(true).into_text().unwrap(), "true");
    assert_eq!(Value::Number(2.50).into_text().unwrap(), "2.5");
    assert_eq!(Value::Text("".into()).into_text(), None);
    assert_eq!(Value::Blank.into_text(), None);
    assert_eq!(text("TODAY()"), "2026-12-04");
}
