//! The functions a formula may call: their names, how many arguments each
//! takes, and what the text functions do. There is no function that runs
//! code, reads a file or reaches the network.

use super::error::EvalError;
use super::eval::{bounded, Env, Node};
use super::value::Value;
use regex::Regex;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Function {
    If,
    And,
    Or,
    Not,
    Left,
    Right,
    Mid,
    Len,
    Trim,
    Upper,
    Lower,
    Replace,
    RegexReplace,
    RegexMatch,
    Split,
    Concat,
    Coalesce,
    IsBlank,
    Map,
    Date,
    Number,
    Today,
    Now,
}

/// Each function's name, and the fewest and most arguments it takes
/// (`None`: any number).
const FUNCTIONS: [(&str, Function, usize, Option<usize>); 23] = [
    ("IF", Function::If, 2, Some(3)),
    ("AND", Function::And, 1, None),
    ("OR", Function::Or, 1, None),
    ("NOT", Function::Not, 1, Some(1)),
    ("LEFT", Function::Left, 2, Some(2)),
    ("RIGHT", Function::Right, 2, Some(2)),
    ("MID", Function::Mid, 3, Some(3)),
    ("LEN", Function::Len, 1, Some(1)),
    ("TRIM", Function::Trim, 1, Some(1)),
    ("UPPER", Function::Upper, 1, Some(1)),
    ("LOWER", Function::Lower, 1, Some(1)),
    ("REPLACE", Function::Replace, 3, Some(3)),
    ("REGEX_REPLACE", Function::RegexReplace, 3, Some(3)),
    ("REGEX_MATCH", Function::RegexMatch, 2, Some(2)),
    ("SPLIT", Function::Split, 3, Some(3)),
    ("CONCAT", Function::Concat, 1, None),
    ("COALESCE", Function::Coalesce, 1, None),
    ("ISBLANK", Function::IsBlank, 1, Some(1)),
    ("MAP", Function::Map, 2, Some(3)),
    ("DATE", Function::Date, 2, Some(3)),
    ("NUMBER", Function::Number, 1, Some(2)),
    ("TODAY", Function::Today, 0, Some(0)),
    ("NOW", Function::Now, 0, Some(0)),
];

impl Function {
    /// The function called `name`, in any case.
    pub(super) fn named(name: &str) -> Option<Self> {
        FUNCTIONS
            .iter()
            .find(|(n, ..)| n.eq_ignore_ascii_case(name))
            .map(|(_, f, ..)| *f)
    }

    /// Every function's name.
    pub(super) fn names() -> impl Iterator<Item = &'static str> {
        FUNCTIONS.iter().map(|(n, ..)| *n)
    }

    pub(super) fn name(self) -> &'static str {
        self.entry().0
    }

    /// Refuses a number of arguments the function does not take.
    pub(super) fn check_arity(self, given: usize) -> Result<(), String> {
        let (name, _, least, most) = self.entry();
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        let takes = match most {
            Some(most) if most == least => format!("{least} {}", plural(least)),
            Some(most) => format!("{least} to {most} arguments"),
            None => format!("at least {least} {}", plural(least)),
        };
        if given < least || most.is_some_and(|most| given > most) {
            return Err(format!("{name} takes {takes}, not {given}"));
        }
        Ok(())
    }

    /// Whether the function always gives text (so that `+` joins it).
    pub(super) fn gives_text(self) -> bool {
        use Function::*;
        matches!(
            self,
            Left | Right
                | Mid
                | Trim
                | Upper
                | Lower
                | Replace
                | RegexReplace
                | Split
                | Concat
                | Map
        )
    }

    fn entry(self) -> (&'static str, Function, usize, Option<usize>) {
        FUNCTIONS
            .iter()
            .copied()
            .find(|(_, f, ..)| *f == self)
            .unwrap_or(("?", self, 0, None))
    }
}

/// A text function's value. `args` have been counted by `check`.
pub(super) fn text_function<'a>(
    function: Function,
    args: &'a [Node],
    env: &Env<'a, '_>,
    at: usize,
) -> Result<Value<'a>, EvalError> {
    let arg = |n: usize| {
        args.get(n)
            .ok_or_else(|| EvalError(format!("{} is missing an argument", function.name())))
    };
    let text = arg(0)?.text(env)?;
    let value = match function {
        Function::Len => return Ok(Value::Number(text.chars().count() as f64)),
        Function::Trim => slice(text, |t| t.trim()),
        Function::Upper => Cow::Owned(bounded(text.to_uppercase(), at)?),
        Function::Lower => Cow::Owned(bounded(text.to_lowercase(), at)?),
        Function::Left => {
            let n = arg(1)?.count(env, "LEFT's count")?;
            slice(text, |t| &t[..byte_at(t, n)])
        }
        Function::Right => {
            let n = arg(1)?.count(env, "RIGHT's count")?;
            let skip = text.chars().count().saturating_sub(n);
            slice(text, |t| &t[byte_at(t, skip)..])
        }
        Function::Mid => {
            let start = arg(1)?.count(env, "MID's start")?;
            if start == 0 {
                return Err(EvalError(format!(
                    "MID's start at position {} is 0; the first character is 1",
                    arg(1)?.at
                )));
            }
            let n = arg(2)?.count(env, "MID's count")?;
            slice(text, |t| {
                let from = byte_at(t, start - 1);
                &t[from..from + byte_at(&t[from..], n)]
            })
        }
        Function::Replace => {
            let find = arg(1)?.text(env)?;
            let with = arg(2)?.text(env)?;
            replace(text, &find, &with, at)?
        }
        Function::Split => {
            let separator = arg(1)?.text(env)?;
            if separator.is_empty() {
                return Err(EvalError(format!(
                    "SPLIT's separator at position {} is empty",
                    arg(1)?.at
                )));
            }
            let n = arg(2)?.whole(env, "SPLIT's part")?;
            let parts = text.matches(separator.as_ref()).count() + 1;
            let index = match usize::try_from(n.unsigned_abs()) {
                Ok(k) if n > 0 && k <= parts => k - 1,
                Ok(k) if n < 0 && k <= parts => parts - k,
                _ => return Ok(Value::Blank),
            };
            slice(text, |t| {
                t.split(separator.as_ref()).nth(index).unwrap_or("")
            })
        }
        _ => {
            return Err(EvalError(format!(
                "{} is not a text function",
                function.name()
            )))
        }
    };
    Ok(Value::Text(value))
}

/// The byte offset of the `n`th character, or the text's length.
fn byte_at(text: &str, n: usize) -> usize {
    text.char_indices().nth(n).map_or(text.len(), |(i, _)| i)
}

/// A part of `text`, borrowed when `text` is.
fn slice<'a>(text: Cow<'a, str>, part: impl for<'t> Fn(&'t str) -> &'t str) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(part(t)),
        Cow::Owned(t) => Cow::Owned(part(&t).to_owned()),
    }
}

/// `text` with every `find` replaced, refused before it is built when it
/// would be longer than the bound; unchanged (and still borrowed) when
/// `find` is empty or absent.
fn replace<'a>(
    text: Cow<'a, str>,
    find: &str,
    with: &str,
    at: usize,
) -> Result<Cow<'a, str>, EvalError> {
    if find.is_empty() {
        return Ok(text);
    }
    let count = text.matches(find).count();
    if count == 0 {
        return Ok(text);
    }
    let length = (text.len() - count * find.len()).saturating_add(count.saturating_mul(with.len()));
    bounded_length(length, at)?;
    Ok(Cow::Owned(text.replace(find, with)))
}

/// Every match of `regex` in `text` replaced by `with` (`$1` and `${name}`
/// name groups), stopping as soon as the result is longer than the bound.
pub(super) fn regex_replace<'a>(
    text: Cow<'a, str>,
    regex: &Regex,
    with: &str,
    at: usize,
) -> Result<Cow<'a, str>, EvalError> {
    let mut out = String::new();
    let mut last = 0;
    for captures in regex.captures_iter(&text) {
        let Some(found) = captures.get(0) else {
            continue;
        };
        out.push_str(&text[last..found.start()]);
        captures.expand(with, &mut out);
        last = found.end();
        bounded_length(out.len(), at)?;
    }
    if last == 0 && out.is_empty() {
        return Ok(text);
    }
    out.push_str(&text[last..]);
    Ok(Cow::Owned(bounded(out, at)?))
}

pub(super) fn bounded_length(length: usize, at: usize) -> Result<(), EvalError> {
    if length > super::MAX_TEXT_BYTES {
        return Err(EvalError(format!(
            "the text made at position {at} would be longer than {} KiB",
            super::MAX_TEXT_BYTES / 1024
        )));
    }
    Ok(())
}
