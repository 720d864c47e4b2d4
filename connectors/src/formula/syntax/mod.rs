//! The grammar: a formula's text to a syntax tree whose nodes know where
//! they start. Names (columns, functions) are only read here; `check`
//! resolves them.
//!
//! Operators, loosest first: `OR`; `AND`; prefix `NOT`; the comparisons
//! `= <> < <= > >=` (one per operand pair: `a = b = c` is refused); `&`;
//! `+ -`; `* /`; prefix `-`.

mod operands;
mod operators;

use super::MAX_DEPTH;
use operators::expr;
use winnow::ascii::multispace0;
use winnow::combinator::{cut_err, eof, Infix};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::stream::Location;
use winnow::token::{one_of, take_while};
use winnow::{LocatingSlice, ModalResult, Parser, Stateful};

type Input<'s> = Stateful<LocatingSlice<&'s str>, State>;
type Fold<'s> = Infix<Input<'s>, Syntax, ErrMode<ContextError>>;

/// What the parser keeps beside the input: how deep it is now, and a
/// refusal whose message and position are more precise than the
/// combinators' own.
#[derive(Debug, Default)]
struct State {
    open: usize,
    refusal: Option<(usize, String)>,
}

/// A node of the syntax tree. `at` is the byte offset where it starts;
/// `depth` the levels of nodes it holds, itself included.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Syntax {
    pub at: usize,
    pub depth: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Text(String),
    Number(f64),
    Bool(bool),
    Column(String),
    Call(String, Vec<Syntax>),
    /// `{"key": "value", ...}`, only a `MAP`'s table.
    Table(Vec<Entry>),
    Negate(Box<Syntax>),
    Not(Box<Syntax>),
    Binary(Binary, Box<Syntax>, Box<Syntax>),
    /// Operands of one associative operator written in a row (`a & b & c`),
    /// kept flat so that a long chain does not nest.
    Chain(Chain, Vec<Syntax>),
}

/// One `"key": "value"` of a table.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub at: usize,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Binary {
    Add,
    Subtract,
    Multiply,
    Divide,
    Compare(Comparison),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chain {
    Join,
    And,
    Or,
}

/// Why a text is not a formula: the byte offset where reading stopped, and
/// what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub at: usize,
    pub message: String,
}

/// Reads a whole formula. Nesting deeper than [`MAX_DEPTH`] is refused as
/// soon as it is met, so no input can exhaust the stack.
pub(super) fn parse(text: &str) -> Result<Syntax, Refusal> {
    let mut input = Input {
        input: LocatingSlice::new(text),
        state: State::default(),
    };
    let whole = (multispace0, expr, end).map(|(_, syntax, _)| syntax);
    match cut_err(whole).parse_next(&mut input) {
        Ok(syntax) => Ok(syntax),
        Err(error) => Err(match input.state.refusal.take() {
            Some((at, message)) => Refusal { at, message },
            None => {
                let at = input.current_token_start();
                let found = text.get(at..).and_then(|rest| rest.chars().next());
                Refusal {
                    at,
                    message: describe(error, found),
                }
            }
        }),
    }
}

/// "expected `)`, found the end of the formula", from the error's context.
fn describe(error: ErrMode<ContextError>, found: Option<char>) -> String {
    let expected: Vec<String> = match error.into_inner() {
        Ok(inner) => inner
            .context()
            .filter_map(|c| match c {
                StrContext::Expected(value) => Some(value.to_string()),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let found = match found {
        None => "the end of the formula".to_owned(),
        Some(c) => format!("`{c}`"),
    };
    match expected.split_last() {
        None => format!("unexpected {found}"),
        Some((last, [])) => format!("expected {last}, found {found}"),
        Some((last, rest)) => format!("expected {} or {last}, found {found}", rest.join(", ")),
    }
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

/// Stops the parse with `message` at byte offset `at`.
fn refuse<T>(i: &mut Input<'_>, at: usize, message: String) -> ModalResult<T> {
    i.state.refusal.get_or_insert((at, message));
    Err(ErrMode::Cut(ContextError::new()))
}

fn too_deep<T>(i: &mut Input<'_>, at: usize) -> ModalResult<T> {
    refuse(
        i,
        at,
        format!(
            "the formula nests more than {MAX_DEPTH} levels deep (brackets, functions and \
             operators each add one); split it into simpler formulas"
        ),
    )
}

/// Enters a bracket, a function's arguments or a prefix operator.
fn enter(i: &mut Input<'_>, at: usize) -> ModalResult<()> {
    i.state.open += 1;
    if i.state.open > MAX_DEPTH {
        return too_deep(i, at);
    }
    Ok(())
}

fn leave(i: &mut Input<'_>) {
    i.state.open = i.state.open.saturating_sub(1);
}

/// A node over `children`, refused when it would nest too deep.
fn node(i: &mut Input<'_>, at: usize, children: usize, kind: Kind) -> ModalResult<Syntax> {
    let depth = children + 1;
    if depth > MAX_DEPTH {
        return too_deep(i, at);
    }
    Ok(Syntax { at, depth, kind })
}

fn leaf(at: usize, kind: Kind) -> Syntax {
    Syntax { at, depth: 1, kind }
}

fn end(i: &mut Input<'_>) -> ModalResult<()> {
    cut_err(eof.void())
        .context(expected("an operator"))
        .context(expected("the end of the formula"))
        .parse_next(i)
}

/// A token and the white space after it.
fn token<'s, O>(
    p: impl Parser<Input<'s>, O, ErrMode<ContextError>>,
) -> impl Parser<Input<'s>, O, ErrMode<ContextError>> {
    (p, multispace0).map(|(o, _)| o)
}

fn keyword<'s>(word: &'static str) -> impl Parser<Input<'s>, (), ErrMode<ContextError>> {
    token(identifier.verify(move |name: &str| name.eq_ignore_ascii_case(word))).void()
}

fn identifier<'s>(i: &mut Input<'s>) -> ModalResult<&'s str> {
    (
        one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., |c: char| c.is_ascii_alphanumeric() || c == '_'),
    )
        .take()
        .parse_next(i)
}
