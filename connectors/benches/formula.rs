//! The formula evaluator on its own: `cargo bench -p sluice-connectors
//! --bench formula`. Evaluates typical formulas over 200,000 generated rows
//! held in memory, five rounds each, and prints the median time per row
//! beside a formula that only passes a column through.
#![expect(clippy::unwrap_used, reason = "a benchmark stops on any failure")]

use chrono::{TimeZone, Utc};
use sluice_connectors::formula::{EvalContext, Formula};
use std::hint::black_box;
use std::time::Instant;

const ROWS: usize = 200_000;
const ROUNDS: usize = 5;

const HEADER: [&str; 7] = [
    "Email", "First", "Last", "Amount", "Joined", "Country", "Phone",
];

const FORMULAS: [(&str, &str); 7] = [
    ("a column as it is", "[Email]"),
    ("trim and case", "LOWER(TRIM([Email]))"),
    ("join", "[First] & \" \" & [Last]"),
    ("number in a locale", "NUMBER([Amount], \"de\") * 1.19"),
    (
        "date in a zone",
        "DATE([Joined], \"%d.%m.%Y %H:%M\", \"Europe/Berlin\")",
    ),
    (
        "map",
        "MAP([Country], {\"Deutschland\": \"DE\", \"France\": \"FR\", \"España\": \"ES\"}, \"XX\")",
    ),
    (
        "filter",
        "REGEX_MATCH([Phone], \"^\\+49\") AND NOT ISBLANK([Amount]) AND [Last] <> \"Test\"",
    ),
];

fn main() {
    let header: Vec<String> = HEADER.map(String::from).to_vec();
    let rows = rows();
    let context = EvalContext {
        now: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        time_zone: chrono_tz::UTC,
    };
    println!("| formula | median per row | rows per second |");
    println!("| --- | ---: | ---: |");
    for (name, text) in FORMULAS {
        let formula = Formula::parse(text, &header).unwrap();
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for row in &rows {
                let value = formula.eval(|i| row.get(i).map(String::as_str), &context);
                black_box(value.unwrap().into_text());
            }
            rounds.push(started.elapsed().as_secs_f64() / ROWS as f64);
        }
        rounds.sort_by(f64::total_cmp);
        let median = rounds[ROUNDS / 2];
        println!("| {name} | {:.0} ns | {:.0} |", median * 1e9, 1.0 / median);
    }
}

/// Rows of plausible cells from a fixed sequence.
fn rows() -> Vec<Vec<String>> {
    let mut seed = 0x5eed_u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    let first = ["Ada", "Zoë", "Grace", "Alan", "Hedy"];
    let last = ["Lovelace", "Ünal", "Hopper", "Turing", "Test"];
    let country = ["Deutschland", "France", "España", "Italia"];
    (0..ROWS)
        .map(|i| {
            let f = first[next(5) as usize];
            let l = last[next(5) as usize];
            vec![
                format!("  {f}.{l}{i}@Example.COM "),
                f.to_owned(),
                l.to_owned(),
                format!("{}.{:03},{:02}", next(100), next(1000), next(100)),
                format!(
                    "{:02}.{:02}.20{:02} {:02}:{:02}",
                    1 + next(28),
                    1 + next(12),
                    next(30),
                    8 + next(12),
                    next(60)
                ),
                country[next(4) as usize].to_owned(),
                format!(
                    "+{} 30 {}",
                    if next(2) == 0 { 49 } else { 33 },
                    next(10_000_000)
                ),
            ]
        })
        .collect()
}
