//! A syntax tree checked against the source's header: columns and
//! functions resolved (with a suggestion for a misspelt name), arguments
//! counted, and the literal settings (patterns, formats, zones, locales,
//! tables) compiled once.

use super::error::FormulaError;
use super::eval::{Arithmetic, Node, NodeKind};
use super::functions::Function;
use super::syntax::{Binary, Chain, Entry, Kind, Syntax};
use super::value::Value;
use super::{MAX_NODES, MAX_REGEX_BYTES};
use crate::mapping::read;
use std::borrow::Cow;
use std::collections::HashMap;

/// Names longer than this are not compared with others for a suggestion,
/// which would cost the square of their length.
const MAX_SUGGESTED_CHARS: usize = 100;

pub(super) struct Checker<'t> {
    text: &'t str,
    header: &'t [String],
    nodes: usize,
    /// The columns read, in the order first read.
    pub read: Vec<String>,
}

impl<'t> Checker<'t> {
    pub(super) fn new(text: &'t str, header: &'t [String]) -> Self {
        Self {
            text,
            header,
            nodes: 0,
            read: Vec::new(),
        }
    }

    fn refuse<T>(&self, at: usize, message: String) -> Result<T, FormulaError> {
        Err(FormulaError {
            position: position(self.text, at),
            message,
        })
    }

    pub(super) fn check(&mut self, syntax: Syntax) -> Result<Node, FormulaError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.refuse(
                syntax.at,
                format!("the formula has more than {MAX_NODES} values, operators and functions"),
            );
        }
        let at = syntax.at;
        let kind = match syntax.kind {
            Kind::Text(text) => NodeKind::Literal(Value::Text(Cow::Owned(text))),
            Kind::Number(n) => NodeKind::Literal(Value::Number(n)),
            Kind::Bool(b) => NodeKind::Literal(Value::Bool(b)),
            Kind::Column(name) => self.column(at, name)?,
            Kind::Table(_) => {
                return self.refuse(at, "a {…} table can only be MAP's second argument".into())
            }
            Kind::Negate(operand) => NodeKind::Negate(self.boxed(*operand)?),
            Kind::Not(operand) => NodeKind::Not(self.boxed(*operand)?),
            Kind::Chain(chain, list) => {
                let list = self.all(list)?;
                match chain {
                    Chain::Join => NodeKind::Join(list),
                    Chain::And => NodeKind::And(list),
                    Chain::Or => NodeKind::Or(list),
                }
            }
            Kind::Binary(op, a, b) => {
                let (a, b) = (self.check(*a)?, self.check(*b)?);
                let joins = gives_text(&a) || gives_text(&b);
                let (a, b) = (Box::new(a), Box::new(b));
                match op {
                    Binary::Add if joins => NodeKind::Join(vec![*a, *b]),
                    Binary::Add => NodeKind::Arithmetic(Arithmetic::Add, a, b),
                    Binary::Subtract => NodeKind::Arithmetic(Arithmetic::Subtract, a, b),
                    Binary::Multiply => NodeKind::Arithmetic(Arithmetic::Multiply, a, b),
                    Binary::Divide => NodeKind::Arithmetic(Arithmetic::Divide, a, b),
                    Binary::Compare(c) => NodeKind::Compare(c, a, b),
                }
            }
            Kind::Call(name, args) => self.call(at, &name, args)?,
        };
        Ok(Node {
            at: position(self.text, at),
            kind,
        })
    }

    fn boxed(&mut self, syntax: Syntax) -> Result<Box<Node>, FormulaError> {
        self.check(syntax).map(Box::new)
    }

    fn all(&mut self, list: Vec<Syntax>) -> Result<Vec<Node>, FormulaError> {
        list.into_iter().map(|s| self.check(s)).collect()
    }

    fn column(&mut self, at: usize, name: String) -> Result<NodeKind, FormulaError> {
        let Some(index) = self.header.iter().position(|h| *h == name) else {
            let known = self.header.iter().map(String::as_str);
            let hint = suggestion(&name, known)
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            return self.refuse(at, format!("no column named {name}{hint}"));
        };
        if !self.read.contains(&name) {
            self.read.push(name.clone());
        }
        Ok(NodeKind::Column(index, name))
    }

    fn call(
        &mut self,
        at: usize,
        name: &str,
        mut args: Vec<Syntax>,
    ) -> Result<NodeKind, FormulaError> {
        let Some(function) = Function::named(name) else {
            let hint = suggestion(name, Function::names())
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            return self.refuse(at, format!("unknown function {name}{hint}"));
        };
        if let Err(message) = function.check_arity(args.len()) {
            return self.refuse(at, message);
        }
        let name = function.name();
        // Settings that are literals, taken out before the other arguments
        // are checked.
        let mut literal =
            |index: usize, what: &str| -> Result<Option<(usize, String)>, FormulaError> {
                if index >= args.len() {
                    return Ok(None);
                }
                let arg = args.remove(index);
                match arg.kind {
                    Kind::Text(text) => Ok(Some((arg.at, text))),
                    _ => self.refuse(
                        arg.at,
                        format!("{name}'s {what} is text in quotes, written in the formula"),
                    ),
                }
            };
        Ok(match function {
            Function::RegexMatch | Function::RegexReplace => {
                let (pattern_at, pattern) = literal(1, "pattern")?.unwrap_or_default();
                let regex = regex::RegexBuilder::new(&pattern)
                    .size_limit(MAX_REGEX_BYTES)
                    .dfa_size_limit(MAX_REGEX_BYTES)
                    .build()
                    .or_else(|e| self.refuse(pattern_at, regex_problem(&e)))?;
                let mut args = self.all(args)?.into_iter().map(Box::new);
                match (args.next(), args.next()) {
                    (Some(text), Some(with)) => NodeKind::RegexReplace(text, regex, with),
                    (Some(text), None) => NodeKind::RegexMatch(text, regex),
                    _ => return self.refuse(at, format!("{name} is missing an argument")),
                }
            }
            Function::Date => {
                let zone = match literal(2, "time zone")? {
                    Some((zone_at, zone)) => {
                        Some(read::time_zone(&zone).or_else(|e| self.refuse(zone_at, e))?)
                    }
                    None => None,
                };
                let (format_at, format) = literal(1, "format")?.unwrap_or_default();
                if !read::date_format_ok(&format) {
                    return self.refuse(format_at, read::BAD_DATE_FORMAT.into());
                }
                NodeKind::Date(self.one(args)?, format, zone)
            }
            Function::Number => {
                let (locale_at, locale) = literal(1, "locale")?.unwrap_or((at, "en".to_owned()));
                if !read::known_locale(&locale) {
                    return self.refuse(
                        locale_at,
                        "NUMBER's locale is not one Sluice knows: give a language such as en, \
                         de or fr, with a region if you like (de-CH, en_GB)"
                            .into(),
                    );
                }
                NodeKind::Number(self.one(args)?, locale)
            }
            Function::Map => {
                let table = args.remove(1);
                let Kind::Table(entries) = table.kind else {
                    return self.refuse(
                        table.at,
                        "MAP's second argument is a table such as {\"a\": \"x\", \"b\": \"y\"}"
                            .into(),
                    );
                };
                let table = self.table(entries)?;
                let mut args = self.all(args)?.into_iter().map(Box::new);
                match args.next() {
                    Some(value) => NodeKind::Map(value, table, args.next()),
                    None => return self.refuse(at, "MAP is missing its value".into()),
                }
            }
            Function::If => {
                let mut args = self.all(args)?.into_iter().map(Box::new);
                match (args.next(), args.next()) {
                    (Some(condition), Some(then)) => NodeKind::If(condition, then, args.next()),
                    _ => return self.refuse(at, "IF is missing an argument".into()),
                }
            }
            Function::And => NodeKind::And(self.all(args)?),
            Function::Or => NodeKind::Or(self.all(args)?),
            Function::Not => NodeKind::Not(self.one(args)?),
            Function::Concat => NodeKind::Join(self.all(args)?),
            Function::Coalesce => NodeKind::Coalesce(self.all(args)?),
            Function::IsBlank => NodeKind::IsBlank(self.one(args)?),
            Function::Today => NodeKind::Today,
            Function::Now => NodeKind::Now,
            Function::Left
            | Function::Right
            | Function::Mid
            | Function::Len
            | Function::Trim
            | Function::Upper
            | Function::Lower
            | Function::Replace
            | Function::Split => NodeKind::Text(function, self.all(args)?),
        })
    }

    /// The only argument left.
    fn one(&mut self, args: Vec<Syntax>) -> Result<Box<Node>, FormulaError> {
        let mut args = self.all(args)?.into_iter();
        match args.next() {
            Some(node) => Ok(Box::new(node)),
            None => self.refuse(0, "a function is missing an argument".into()),
        }
    }

    fn table(&mut self, entries: Vec<Entry>) -> Result<HashMap<String, String>, FormulaError> {
        let mut table = HashMap::with_capacity(entries.len());
        for Entry { at, key, value } in entries {
            if table.contains_key(&key) {
                return self.refuse(at, "this key is already in the table".into());
            }
            table.insert(key, value);
        }
        Ok(table)
    }
}

/// The 1-based character position of byte offset `at` in `text`.
pub(super) fn position(text: &str, at: usize) -> usize {
    text.get(..at).map_or(0, |before| before.chars().count()) + 1
}

/// Whether a node always gives text, so that `+` joins rather than adds.
fn gives_text(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Literal(value) => matches!(value, Value::Text(_)),
        NodeKind::Join(_) | NodeKind::RegexReplace(..) | NodeKind::Map(..) => true,
        NodeKind::Text(function, _) => function.gives_text(),
        _ => false,
    }
}

/// Why a pattern is refused, in one line.
fn regex_problem(error: &regex::Error) -> String {
    match error {
        regex::Error::CompiledTooBig(_) => format!(
            "the pattern is too large once compiled (more than {} KiB); make it simpler",
            MAX_REGEX_BYTES / 1024
        ),
        other => {
            let detail = other.to_string();
            let last = detail.lines().rev().find(|l| !l.trim().is_empty());
            format!(
                "the pattern is not a regular expression: {}",
                last.unwrap_or("it does not parse")
                    .trim_start_matches("error: ")
            )
        }
    }
}

/// The name among `known` closest to `name`, if it is close: the same but
/// for case, or within a third of its length in edits.
fn suggestion<'k>(name: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let length = name.chars().count();
    if length > MAX_SUGGESTED_CHARS {
        return None;
    }
    let name = name.to_lowercase();
    let most = (length / 3).max(1);
    known
        .filter(|k| k.chars().count().abs_diff(length) <= most)
        .map(|k| (strsim::damerau_levenshtein(&name, &k.to_lowercase()), k))
        .filter(|(distance, _)| *distance <= most)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}
