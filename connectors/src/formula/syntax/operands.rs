//! Operands: literals, columns, tables, brackets and function calls.

use super::operators::expr;
use super::{
    enter, expected, identifier, leaf, leave, node, refuse, token, Entry, Input, Kind, Syntax,
};
use winnow::ascii::digit1;
use winnow::combinator::{alt, cut_err, fail, opt, peek, separated};
use winnow::error::{ContextError, ErrMode};
use winnow::stream::{Location, Stream};
use winnow::token::take_till;
use winnow::{ModalResult, Parser};

pub(super) fn operand(i: &mut Input<'_>) -> ModalResult<Syntax> {
    let at = i.current_token_start();
    token(alt((
        number.map(move |n| leaf(at, Kind::Number(n))),
        quoted('"', '"', "a closing `\"` for the text that starts here")
            .map(move |text| leaf(at, Kind::Text(text))),
        column.map(move |name| leaf(at, Kind::Column(name))),
        table.map(move |entries| leaf(at, Kind::Table(entries))),
        group,
        named,
    )))
    .parse_next(i)
}

fn number(i: &mut Input<'_>) -> ModalResult<f64> {
    (digit1, opt(('.', digit1)))
        .take()
        .verify_map(|digits: &str| digits.parse().ok())
        .parse_next(i)
}

/// Text from `open` to `quote`, a doubled `quote` standing for one; refused
/// where it starts when it is not closed.
fn quoted<'s>(
    mut open: char,
    quote: char,
    unclosed: &'static str,
) -> impl Parser<Input<'s>, String, ErrMode<ContextError>> {
    move |i: &mut Input<'s>| {
        let at = i.current_token_start();
        open.parse_next(i)?;
        let mut text = String::new();
        loop {
            text.push_str(take_till(0.., quote).parse_next(i)?);
            if opt(quote).parse_next(i)?.is_none() {
                return refuse(i, at, format!("expected {unclosed}"));
            }
            if opt(quote).parse_next(i)?.is_none() {
                return Ok(text);
            }
            text.push(quote);
        }
    }
}

fn column(i: &mut Input<'_>) -> ModalResult<String> {
    let at = i.current_token_start();
    let name = quoted(
        '[',
        ']',
        "a closing `]` for the column name that starts here",
    )
    .parse_next(i)?;
    if name.is_empty() {
        return refuse(i, at, "a column name between [ and ] is empty".into());
    }
    Ok(name)
}

fn table(i: &mut Input<'_>) -> ModalResult<Vec<Entry>> {
    token('{').parse_next(i)?;
    if opt(token('}')).parse_next(i)?.is_some() {
        return Ok(Vec::new());
    }
    let entries = separated(1.., cut_err(entry), token(',')).parse_next(i)?;
    cut_err(token('}'))
        .context(expected("`}` to close the table"))
        .context(expected("`,`"))
        .parse_next(i)?;
    Ok(entries)
}

fn entry(i: &mut Input<'_>) -> ModalResult<Entry> {
    let at = i.current_token_start();
    let text = || {
        token(quoted(
            '"',
            '"',
            "a closing `\"` for the text that starts here",
        ))
    };
    let key = text().context(expected("a key in quotes")).parse_next(i)?;
    cut_err(token(':')).context(expected("`:`")).parse_next(i)?;
    let value = cut_err(text())
        .context(expected("a value in quotes"))
        .parse_next(i)?;
    Ok(Entry { at, key, value })
}

fn group(i: &mut Input<'_>) -> ModalResult<Syntax> {
    let at = i.current_token_start();
    token('(').parse_next(i)?;
    enter(i, at)?;
    let inner = expr(i)?;
    cut_err(token(')'))
        .context(expected("`)`"))
        .context(expected("an operator"))
        .parse_next(i)?;
    leave(i);
    Ok(inner)
}

/// A function call, `TRUE` or `FALSE`. `AND`, `OR` and `NOT` without a
/// bracket after them are operators, left to the caller.
fn named(i: &mut Input<'_>) -> ModalResult<Syntax> {
    let at = i.current_token_start();
    let start = i.checkpoint();
    let name = token(identifier).parse_next(i)?;
    if peek(opt('(')).parse_next(i)?.is_some() {
        let name = name.to_owned();
        let args = arguments(i, at)?;
        let children = args.iter().map(|a| a.depth).max().unwrap_or(0);
        return node(i, at, children, Kind::Call(name, args));
    }
    for (word, value) in [("TRUE", true), ("FALSE", false)] {
        if name.eq_ignore_ascii_case(word) {
            return Ok(leaf(at, Kind::Bool(value)));
        }
    }
    if ["AND", "OR", "NOT"]
        .iter()
        .any(|w| name.eq_ignore_ascii_case(w))
    {
        i.reset(&start);
        return fail(i);
    }
    let name = name.to_owned();
    refuse(
        i,
        at,
        format!("expected `(` after the function name {name}; a column is written [{name}]"),
    )
}

fn arguments(i: &mut Input<'_>, at: usize) -> ModalResult<Vec<Syntax>> {
    token('(').parse_next(i)?;
    enter(i, at)?;
    let args = if opt(token(')')).parse_next(i)?.is_some() {
        Vec::new()
    } else {
        let args = separated(1.., expr, token(',')).parse_next(i)?;
        cut_err(token(')'))
            .context(expected("`)`"))
            .context(expected("`,`"))
            .context(expected("an operator"))
            .parse_next(i)?;
        args
    };
    leave(i);
    Ok(args)
}
