use super::super::{syntax, MAX_CHARS, MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES};
use super::*;

fn nested(open: &str, depth: usize, inner: &str, close: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn a_formula_longer_than_the_bound_is_refused() {
    let longest = format!("\"{}\"", "ë".repeat(MAX_CHARS - 2));
    assert_eq!(longest.chars().count(), MAX_CHARS);
    assert!(Formula::parse(&longest, &header()).is_ok());
    let error = refused(&format!("\"{}\"", "ë".repeat(MAX_CHARS - 1)));
    assert_eq!(error.position, MAX_CHARS + 1);
    assert_eq!(error.message, "a formula is at most 4096 characters long");
}

#[test]
fn nesting_deeper_than_the_bound_is_refused_where_it_starts() {
    assert_eq!(text(&nested("(", MAX_DEPTH, "1", ")")), "1");
    let error = refused(&nested("(", MAX_DEPTH + 1, "1", ")"));
    assert_eq!(error.position, MAX_DEPTH + 1);
    assert!(
        error
            .message
            .starts_with("the formula nests more than 32 levels"),
        "{error}"
    );
    // A function and its argument are two levels.
    assert_eq!(text(&nested("LOWER(", MAX_DEPTH - 1, "\"A\"", ")")), "a");
    assert!(Formula::parse(&nested("LOWER(", MAX_DEPTH, "\"A\"", ")"), &header()).is_err());
    // Each operator over another is a level too...
    let chain = |n: usize| vec!["1"; n].join(" - ");
    assert_eq!(text(&chain(MAX_DEPTH)), format!("{}", 2 - MAX_DEPTH as i64));
    assert!(refused(&chain(MAX_DEPTH + 1))
        .message
        .contains("nests more than"));
    // ...but a run of & (or AND, OR) is one.
    let joined = vec!["\"a\""; 200].join(" & ");
    assert_eq!(text(&joined), "a".repeat(200));
    let all = vec!["TRUE"; 200].join(" AND ");
    assert_eq!(text(&all), "true");
}

#[test]
fn the_parser_refuses_100_000_levels_without_exhausting_the_stack() {
    // Formula::parse stops these at the length bound; the parser must
    // survive them on its own too.
    for deep in [
        nested("(", 100_000, "1", ")"),
        nested("LOWER(", 100_000, "1", ")"),
        format!("{}1", "-".repeat(100_000)),
        format!("{}TRUE", "NOT ".repeat(100_000)),
        format!("{}1", "-(".repeat(100_000)),
    ] {
        let refusal = syntax::parse(&deep).expect_err("too deep");
        assert!(
            refusal.message.contains("nests more than"),
            "{}",
            refusal.message
        );
    }
    let error = refused(&nested("(", 100_000, "1", ")"));
    assert_eq!(error.position, MAX_CHARS + 1);
}

#[test]
fn a_formula_with_too_many_parts_is_refused() {
    let concat = |n: usize| format!("CONCAT({})", vec!["1"; n].join(","));
    assert_eq!(text(&concat(MAX_NODES - 1)), "1".repeat(MAX_NODES - 1));
    let error = refused(&concat(MAX_NODES));
    assert_eq!(
        error.message,
        "the formula has more than 1000 values, operators and functions"
    );
    assert_eq!(error.position, 7 + 2 * (MAX_NODES - 1) + 1);
}

#[test]
fn a_pattern_too_large_once_compiled_is_refused() {
    let error = refused("REGEX_MATCH([Name], \"\\w{1000}{1000}\")");
    assert_eq!(error.position, 21);
    assert!(
        error
            .message
            .starts_with("the pattern is too large once compiled"),
        "{error}"
    );
    assert!(Formula::parse("REGEX_MATCH([Name], \"^[a-z]{100}\\w+$\")", &header()).is_ok());
}

#[test]
fn a_pattern_that_backtracks_exponentially_elsewhere_runs_in_linear_time() {
    let cell = format!("{}!", "a".repeat(100_000));
    let started = std::time::Instant::now();
    let matched = run("REGEX_MATCH([Name], \"^(a+)+$\")", &[("Name", &cell)]);
    assert_eq!(matched.unwrap().unwrap(), "false");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn text_longer_than_the_bound_fails_the_row_before_it_is_built() {
    let half = "x".repeat(MAX_TEXT_BYTES / 2 + 1);
    let cells = [("Name", half.as_str())];
    let too_long = "the text made at position 1 would be longer than 1024 KiB";
    assert_eq!(run("[Name] & [Name]", &cells).unwrap_err(), too_long);
    assert_eq!(run("CONCAT([Name], [Name])", &cells).unwrap_err(), too_long);
    assert_eq!(run("[Name] + \"\" + [Name]", &cells).unwrap_err(), too_long);
    assert_eq!(
        run("[Name] & [Name]", &[("Name", "x")]).unwrap().unwrap(),
        "xx"
    );
    let a = "a".repeat(100_000);
    let blow_up = "REPLACE([Name], \"a\", \"aaaaaaaaaaaaaaaaaaaaa\")";
    assert_eq!(run(blow_up, &[("Name", &a)]).unwrap_err(), too_long);
    let blow_up = "REGEX_REPLACE([Name], \"a\", \"$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0$0\")";
    assert_eq!(run(blow_up, &[("Name", &a)]).unwrap_err(), too_long);
    assert_eq!(
        run("REPLACE([Name], \"a\", \"bb\")", &[("Name", &a)])
            .unwrap()
            .unwrap()
            .len(),
        200_000
    );
}
