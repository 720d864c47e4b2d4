//! SOQL's tokens: words (keywords and field paths), quoted strings with
//! backslash escapes, numbers and the few symbols the subset uses.

use super::soql::SyntaxError;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Symbol(&'static str),
    End,
}

pub(super) fn tokenize(query: &str) -> Result<Vec<(Token, usize)>, SyntaxError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            tokens.push((Token::Word(chars[start..i].iter().collect()), column));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let number = text.parse().map_err(|_| SyntaxError {
                column,
                message: format!("unexpected token: '{text}'"),
            })?;
            tokens.push((Token::Number(number), column));
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SyntaxError {
                            column,
                            message: "line 1:0 no viable alternative at character '''".into(),
                        })
                    }
                    Some('\'') => break,
                    Some('\\') => {
                        let escaped = chars.get(i + 1).copied().unwrap_or('\\');
                        text.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(other) => {
                        text.push(*other);
                        i += 1;
                    }
                }
            }
            i += 1;
            tokens.push((Token::Text(text), column));
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let symbol = match (two.as_str(), c) {
                ("!=", _) => "!=",
                ("<>", _) => "<>",
                (_, '=') => "=",
                (_, ',') => ",",
                (_, '(') => "(",
                (_, ')') => ")",
                _ => {
                    return Err(SyntaxError {
                        column,
                        message: format!("line 1:{} no viable alternative at character '{c}'", i),
                    })
                }
            };
            i += symbol.len();
            tokens.push((Token::Symbol(symbol), column));
        }
    }
    tokens.push((Token::End, chars.len() + 1));
    Ok(tokens)
}
