//! Arithmetic on numbers, and on dates by days.

use super::error::EvalError;
use super::eval::{Arithmetic, Env, Node};
use super::value::{plain_number, Value};
use chrono::TimeDelta;

impl Node {
    pub(super) fn arithmetic<'a>(
        &self,
        op: Arithmetic,
        a: &'a Node,
        b: &'a Node,
        env: &Env<'a, '_>,
    ) -> Result<Value<'a>, EvalError> {
        let (x, y) = (a.eval(env)?, b.eval(env)?);
        if x.is_blank() || y.is_blank() {
            return Ok(Value::Blank);
        }
        if let Some(value) = self.dates(op, (&x, a), (&y, b))? {
            return Ok(value);
        }
        let (x, y) = (a.number_of(x)?, b.number_of(y)?);
        let result = match op {
            Arithmetic::Add => x + y,
            Arithmetic::Subtract => x - y,
            Arithmetic::Multiply => x * y,
            Arithmetic::Divide if y == 0.0 => {
                return Err(EvalError(format!(
                    "division by zero: {} is 0",
                    b.describe()
                )))
            }
            Arithmetic::Divide => x / y,
        };
        if !result.is_finite() {
            return Err(EvalError(format!(
                "the number made at position {} is too large",
                self.at
            )));
        }
        Ok(Value::Number(result))
    }

    fn number_of(&self, value: Value<'_>) -> Result<f64, EvalError> {
        match value {
            Value::Number(n) => Ok(n),
            Value::Text(text) => plain_number(&text).ok_or_else(|| self.not_a("number")),
            _ => Err(self.not_a("number")),
        }
    }

    /// Days added to or taken from a date or time, or the days between
    /// two; `None` when neither side is a date.
    fn dates<'a>(
        &self,
        op: Arithmetic,
        (x, a): (&Value<'_>, &Node),
        (y, b): (&Value<'_>, &Node),
    ) -> Result<Option<Value<'a>>, EvalError> {
        let is_date = |v: &Value<'_>| matches!(v, Value::Date(_) | Value::DateTime(_));
        if !is_date(x) && !is_date(y) {
            return Ok(None);
        }
        let sign = match op {
            Arithmetic::Add => 1.0,
            Arithmetic::Subtract => -1.0,
            _ => {
                return Err(EvalError(format!(
                    "a date at position {} can only have days added or taken away",
                    self.at
                )))
            }
        };
        let shifted = |when: Value<'_>, days: f64, node: &Node| -> Result<Value<'a>, EvalError> {
            let out_of_range = || {
                EvalError(format!(
                    "the date made at position {} is out of range",
                    self.at
                ))
            };
            match when {
                Value::Date(day) if days.fract() == 0.0 && days.abs() <= 1e6 => day
                    .checked_add_signed(TimeDelta::days(days as i64))
                    .map(Value::Date)
                    .ok_or_else(out_of_range),
                Value::Date(_) => Err(EvalError(format!(
                    "{} is not a whole number of days",
                    node.describe()
                ))),
                Value::DateTime(at) if days.abs() <= 1e6 => at
                    .checked_add_signed(TimeDelta::milliseconds((days * 86_400_000.0) as i64))
                    .map(Value::DateTime)
                    .ok_or_else(out_of_range),
                _ => Err(out_of_range()),
            }
        };
        Ok(Some(match (x, y) {
            (Value::Date(p), Value::Date(q)) if sign < 0.0 => {
                Value::Number((*p - *q).num_days() as f64)
            }
            (Value::DateTime(p), Value::DateTime(q)) if sign < 0.0 => {
                Value::Number((*p - *q).num_milliseconds() as f64 / 86_400_000.0)
            }
            (Value::Date(_) | Value::DateTime(_), other) => {
                shifted(x.borrowed(), sign * b.number_of(other.borrowed())?, b)?
            }
            _ if sign < 0.0 => {
                return Err(EvalError(format!(
                    "{} is a date, which can only be taken from a date",
                    b.describe()
                )))
            }
            (other, when) => shifted(when.borrowed(), a.number_of(other.borrowed())?, a)?,
        }))
    }
}
