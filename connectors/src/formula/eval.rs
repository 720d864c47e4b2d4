//! A checked formula's tree, and its value for one row. Every error names
//! a column (`[Amount]`) or a position in the formula, never a value.

use super::compare::{compare, yes_or_no};
use super::error::EvalError;
use super::functions::{bounded_length, regex_replace, text_function, Function};
use super::syntax::Comparison;
use super::value::{plain_number, Value};
use super::EvalContext;
use crate::mapping::read::{self, NotADate, When};
use regex::Regex;
use std::borrow::Cow;
use std::collections::HashMap;

/// A node of a checked formula; `at` is its 1-based character position.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub at: usize,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub(super) enum NodeKind {
    Literal(Value<'static>),
    /// A column, by its position in the source's header.
    Column(usize, String),
    Negate(Box<Node>),
    Not(Box<Node>),
    Arithmetic(Arithmetic, Box<Node>, Box<Node>),
    Compare(Comparison, Box<Node>, Box<Node>),
    Join(Vec<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    If(Box<Node>, Box<Node>, Option<Box<Node>>),
    Coalesce(Vec<Node>),
    IsBlank(Box<Node>),
    Text(Function, Vec<Node>),
    RegexMatch(Box<Node>, Regex),
    RegexReplace(Box<Node>, Regex, Box<Node>),
    Map(Box<Node>, HashMap<String, String>, Option<Box<Node>>),
    Date(Box<Node>, String, Option<chrono_tz::Tz>),
    Number(Box<Node>, String),
    Today,
    Now,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arithmetic {
    Add,
    Subtract,
    Multiply,
    Divide,
}

/// What a row's evaluation reads: its cells by header position, and the
/// run's clock and zone.
pub(super) struct Env<'a, 'c> {
    pub row: &'c dyn Fn(usize) -> Option<&'a str>,
    pub context: &'c EvalContext,
}

/// `text`, refused when longer than the bound on made text.
pub(super) fn bounded(text: String, at: usize) -> Result<String, EvalError> {
    bounded_length(text.len(), at)?;
    Ok(text)
}

impl Node {
    pub(super) fn eval<'a>(&'a self, env: &Env<'a, '_>) -> Result<Value<'a>, EvalError> {
        Ok(match &self.kind {
            NodeKind::Literal(value) => value.borrowed(),
            NodeKind::Column(index, _) => match (env.row)(*index) {
                Some(cell) if !cell.is_empty() => Value::Text(Cow::Borrowed(cell)),
                _ => Value::Blank,
            },
            NodeKind::Negate(operand) => match operand.number(env)? {
                Some(n) => Value::Number(-n),
                None => Value::Blank,
            },
            NodeKind::Not(operand) => Value::Bool(!operand.truth(env)?),
            NodeKind::Arithmetic(op, a, b) => self.arithmetic(*op, a, b, env)?,
            NodeKind::Compare(op, a, b) => Value::Bool(compare(*op, a, b, env)?),
            NodeKind::Join(parts) => {
                let mut text = String::new();
                for part in parts {
                    text.push_str(&part.text(env)?);
                    bounded_length(text.len(), self.at)?;
                }
                Value::Text(Cow::Owned(text))
            }
            NodeKind::And(list) => Value::Bool(try_all(list, |n| n.truth(env))?),
            NodeKind::Or(list) => Value::Bool(!try_all(list, |n| Ok(!n.truth(env)?))?),
            NodeKind::If(condition, then, otherwise) => match (condition.truth(env)?, otherwise) {
                (true, _) => then.eval(env)?,
                (false, Some(otherwise)) => otherwise.eval(env)?,
                (false, None) => Value::Blank,
            },
            NodeKind::Coalesce(list) => {
                for node in list {
                    let value = node.eval(env)?;
                    if !value.is_blank() {
                        return Ok(value);
                    }
                }
                Value::Blank
            }
            NodeKind::IsBlank(operand) => Value::Bool(operand.eval(env)?.is_blank()),
            NodeKind::Text(function, args) => text_function(*function, args, env, self.at)?,
            NodeKind::RegexMatch(text, regex) => Value::Bool(regex.is_match(&text.text(env)?)),
            NodeKind::RegexReplace(text, regex, with) => {
                let text = text.text(env)?;
                let with = with.text(env)?;
                Value::Text(regex_replace(text, regex, &with, self.at)?)
            }
            NodeKind::Map(value, table, default) => {
                let value = value.eval(env)?;
                let found = match &value {
                    Value::Blank => table.get(""),
                    Value::Text(text) => table.get(text.as_ref()),
                    other => table.get(&other.to_string()),
                };
                match (found, default) {
                    (Some(mapped), _) => Value::Text(Cow::Borrowed(mapped)),
                    (None, Some(default)) => default.eval(env)?,
                    (None, None) => value,
                }
            }
            NodeKind::Date(text, format, zone) => self.date(text, format, *zone, env)?,
            NodeKind::Number(text, locale) => match text.eval(env)? {
                value @ (Value::Blank | Value::Number(_)) => value,
                value if value.is_blank() => Value::Blank,
                value => read::number(&value.into_cow(), locale)
                    .and_then(|n| n.parse().ok())
                    .map(Value::Number)
                    .ok_or_else(|| {
                        EvalError(format!(
                            "{} is not a number as {locale} writes them",
                            text.describe()
                        ))
                    })?,
            },
            NodeKind::Today => Value::Date(
                env.context
                    .now
                    .with_timezone(&env.context.time_zone)
                    .date_naive(),
            ),
            NodeKind::Now => Value::DateTime(env.context.now.fixed_offset()),
        })
    }

    /// How an error names this node: `[Amount]`, or its position.
    pub(super) fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Column(_, name) => format!("[{}]", name.replace(']', "]]")),
            NodeKind::Text(f, _) => format!("the {} at position {}", f.name(), self.at),
            _ => format!("the value at position {}", self.at),
        }
    }

    /// The value as text; blank is empty text.
    pub(super) fn text<'a>(&'a self, env: &Env<'a, '_>) -> Result<Cow<'a, str>, EvalError> {
        Ok(self.eval(env)?.into_cow())
    }

    /// The value as a number, `None` when blank. Text is read as a plain
    /// number (`-1234.5`).
    pub(super) fn number<'a>(&'a self, env: &Env<'a, '_>) -> Result<Option<f64>, EvalError> {
        match self.eval(env)? {
            value if value.is_blank() => Ok(None),
            Value::Number(n) => Ok(Some(n)),
            Value::Text(text) => plain_number(&text)
                .map(Some)
                .ok_or_else(|| self.not_a("number")),
            _ => Err(self.not_a("number")),
        }
    }

    /// The value as a whole number, which must not be blank.
    pub(super) fn whole<'a>(&'a self, env: &Env<'a, '_>, what: &str) -> Result<i64, EvalError> {
        match self.number(env)? {
            Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => Ok(n as i64),
            _ => Err(EvalError(format!(
                "{what} is not a whole number: {} has to be one",
                self.describe()
            ))),
        }
    }

    /// The value as a count of characters: a whole number, 0 or more.
    pub(super) fn count<'a>(&'a self, env: &Env<'a, '_>, what: &str) -> Result<usize, EvalError> {
        usize::try_from(self.whole(env, what)?).map_err(|_| {
            EvalError(format!(
                "{what} is negative: {} has to be 0 or more",
                self.describe()
            ))
        })
    }

    /// The value as a condition: true or false (also as text, in any case,
    /// or 1 and 0); a number is true unless 0; blank is false.
    pub(super) fn truth<'a>(&'a self, env: &Env<'a, '_>) -> Result<bool, EvalError> {
        match self.eval(env)? {
            value if value.is_blank() => Ok(false),
            Value::Bool(b) => Ok(b),
            Value::Number(n) => Ok(n != 0.0),
            Value::Text(text) => match yes_or_no(&text) {
                Some(truth) => Ok(truth),
                None => Err(self.not_a("true or false")),
            },
            _ => Err(self.not_a("true or false")),
        }
    }

    pub(super) fn not_a(&self, kind: &str) -> EvalError {
        let hint = match kind {
            "number" => "; NUMBER(text, locale) reads numbers written other ways, and & joins text",
            _ => "",
        };
        EvalError(format!(
            "{} is not {}{hint}",
            self.describe(),
            article(kind)
        ))
    }

    fn date<'a>(
        &self,
        text: &'a Node,
        format: &str,
        zone: Option<chrono_tz::Tz>,
        env: &Env<'a, '_>,
    ) -> Result<Value<'a>, EvalError> {
        let zone = zone.unwrap_or(env.context.time_zone);
        match text.eval(env)? {
            value @ (Value::Date(_) | Value::DateTime(_)) => Ok(value),
            value if value.is_blank() => Ok(Value::Blank),
            value => match read::date(&value.into_cow(), format, zone) {
                Ok(When::Day(day)) => Ok(Value::Date(day)),
                Ok(When::Time(at)) => Ok(Value::DateTime(at)),
                Err(NotADate::Format) => Err(EvalError(format!(
                    "{} is not a date in the format {format}",
                    text.describe()
                ))),
                Err(NotADate::Skipped) => Err(EvalError(format!(
                    "{} is a local time that {zone} skips (a clock change)",
                    text.describe()
                ))),
            },
        }
    }
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        Some('t') => kind.to_owned(),
        _ => format!("a {kind}"),
    }
}

/// Whether `test` holds for each node, stopping at the first that fails.
fn try_all<'a>(
    list: &'a [Node],
    mut test: impl FnMut(&'a Node) -> Result<bool, EvalError>,
) -> Result<bool, EvalError> {
    for node in list {
        if !test(node)? {
            return Ok(false);
        }
    }
    Ok(true)
}
