//! The SOQL an import tool sends: `SELECT f1, Rel.f2 FROM Object [WHERE
//! cond AND …] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n]`,
//! where a condition is
//! `f = v`, `f != v` or `f [NOT] IN (v, …)`, and a value is a quoted string,
//! a number, `true`, `false` or `null`. Keywords are case-insensitive.

use super::soql_tokens::{tokenize, Token};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// A field path (`Email`, `Account.External_Id__c`) and where it stands.
#[derive(Clone, Debug)]
pub(super) struct Path {
    pub parts: Vec<String>,
    pub column: usize,
}

#[derive(Clone, Debug)]
pub(super) enum Condition {
    Equals(Path, Literal, bool),
    In(Path, Vec<Literal>, bool),
}

#[derive(Debug)]
pub(super) struct Query {
    pub fields: Vec<Path>,
    pub object: String,
    pub object_column: usize,
    pub conditions: Vec<Condition>,
    /// Each ordering field in turn, with its direction and where its
    /// nulls go.
    pub order: Vec<OrderItem>,
    pub limit: Option<usize>,
}

/// One field of `ORDER BY`: "Default order is ascending … By default,
/// null values are sorted first" (SOQL and SOSL Reference, ORDER BY).
#[derive(Clone, Debug)]
pub(super) struct OrderItem {
    pub path: Path,
    pub descending: bool,
    pub nulls_last: bool,
}

/// A query Salesforce would refuse, with the column it points at.
#[derive(Debug)]
pub(super) struct SyntaxError {
    pub column: usize,
    pub message: String,
}

/// Salesforce's layout of a query error: the query, a caret, the position.
pub(super) fn describe_error(query: &str, column: usize, message: &str) -> String {
    let caret = format!("{}^", " ".repeat(column.saturating_sub(1)));
    format!("\n{query}\n{caret}\nERROR at Row:1:Column:{column}\n{message}")
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)].0
    }

    fn column(&self) -> usize {
        self.tokens[self.at.min(self.tokens.len() - 1)].1
    }

    fn next(&mut self) -> (Token, usize) {
        let token = self.tokens[self.at.min(self.tokens.len() - 1)].clone();
        self.at += 1;
        token
    }

    fn unexpected(&self) -> SyntaxError {
        let shown = match self.peek() {
            Token::Word(w) => w.clone(),
            Token::Text(t) => format!("'{t}'"),
            Token::Number(n) => n.to_string(),
            Token::Symbol(s) => (*s).to_owned(),
            Token::End => "<EOF>".into(),
        };
        SyntaxError {
            column: self.column(),
            message: format!("unexpected token: {shown}"),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Token::Word(w) if w.eq_ignore_ascii_case(word)) {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), SyntaxError> {
        if self.keyword(word) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn symbol(&mut self, symbol: &str) -> bool {
        if matches!(self.peek(), Token::Symbol(s) if *s == symbol) {
            self.at += 1;
            return true;
        }
        false
    }

    fn path(&mut self) -> Result<Path, SyntaxError> {
        match self.next() {
            (Token::Word(w), column) if !is_reserved(&w) => Ok(Path {
                parts: w.split('.').map(str::to_owned).collect(),
                column,
            }),
            _ => {
                self.at -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, SyntaxError> {
        match self.next().0 {
            Token::Text(t) => Ok(Literal::Text(t)),
            Token::Number(n) => Ok(Literal::Number(n)),
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Token::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            _ => {
                self.at -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn condition(&mut self) -> Result<Condition, SyntaxError> {
        let path = self.path()?;
        if self.symbol("=") {
            return Ok(Condition::Equals(path, self.literal()?, true));
        }
        if self.symbol("!=") || self.symbol("<>") {
            return Ok(Condition::Equals(path, self.literal()?, false));
        }
        let negated = self.keyword("NOT");
        self.expect_keyword("IN")?;
        if !self.symbol("(") {
            return Err(self.unexpected());
        }
        let mut values = vec![self.literal()?];
        while self.symbol(",") {
            values.push(self.literal()?);
        }
        if !self.symbol(")") {
            return Err(self.unexpected());
        }
        Ok(Condition::In(path, values, !negated))
    }
}

fn is_reserved(word: &str) -> bool {
    [
        "SELECT", "FROM", "WHERE", "AND", "OR", "IN", "NOT", "ORDER", "BY", "LIMIT", "ASC", "DESC",
        "NULLS", "FIRST", "LAST",
    ]
    .iter()
    .any(|k| k.eq_ignore_ascii_case(word))
}

pub(super) fn parse(query: &str) -> Result<Query, SyntaxError> {
    let mut p = Parser {
        tokens: tokenize(query)?,
        at: 0,
    };
    p.expect_keyword("SELECT")?;
    let mut fields = vec![p.path()?];
    while p.symbol(",") {
        fields.push(p.path()?);
    }
    p.expect_keyword("FROM")?;
    let object = p.path()?;
    let mut conditions = Vec::new();
    if p.keyword("WHERE") {
        conditions.push(p.condition()?);
        while p.keyword("AND") {
            conditions.push(p.condition()?);
        }
    }
    let mut order = Vec::new();
    if p.keyword("ORDER") {
        p.expect_keyword("BY")?;
        loop {
            let path = p.path()?;
            let descending = p.keyword("DESC");
            if !descending {
                p.keyword("ASC");
            }
            let nulls_last = if p.keyword("NULLS") {
                if p.keyword("LAST") {
                    true
                } else {
                    p.expect_keyword("FIRST")?;
                    false
                }
            } else {
                false
            };
            order.push(OrderItem {
                path,
                descending,
                nulls_last,
            });
            if !p.symbol(",") {
                break;
            }
        }
    }
    let mut limit = None;
    if p.keyword("LIMIT") {
        match p.next().0 {
            Token::Number(n) if n >= 0.0 && n.fract() == 0.0 => limit = Some(n as usize),
            _ => {
                p.at -= 1;
                return Err(p.unexpected());
            }
        }
    }
    if *p.peek() != Token::End {
        return Err(p.unexpected());
    }
    Ok(Query {
        fields,
        object: object.parts.join("."),
        object_column: object.column,
        conditions,
        order,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::{parse, Condition, Literal};

    #[test]
    fn a_lookup_query_parses() {
        let q = parse("select Id, Account.Name FROM Contact WHERE Email IN ('a@x.io', 'b\\'s@x.io') AND IsDeleted = false LIMIT 10")
            .expect("valid SOQL");
        assert_eq!(q.object, "Contact");
        assert_eq!(q.fields[1].parts, ["Account", "Name"]);
        assert!(
            matches!(&q.conditions[0], Condition::In(_, v, true) if v[1] == Literal::Text("b's@x.io".into()))
        );
        assert_eq!(q.limit, Some(10));
    }

    #[test]
    fn an_order_by_lists_fields_each_with_its_direction_and_nulls() {
        let q =
            parse("SELECT Id FROM Account WHERE Name IN ('a') ORDER BY Phone DESC NULLS LAST, Id")
                .expect("valid SOQL");
        let order: Vec<(String, bool, bool)> = q
            .order
            .iter()
            .map(|o| (o.path.parts.join("."), o.descending, o.nulls_last))
            .collect();
        assert_eq!(
            order,
            [("Phone".into(), true, true), ("Id".into(), false, false)]
        );
        assert!(parse("SELECT Id FROM Account ORDER BY Phone NULLS").is_err());
    }

    #[test]
    fn a_misspelt_keyword_is_pointed_at() {
        let error = parse("SELECT Id FORM Contact").expect_err("malformed");
        assert_eq!(
            (error.column, error.message.as_str()),
            (11, "unexpected token: FORM")
        );
    }
}
