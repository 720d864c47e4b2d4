//! Operators: how tightly each binds, and the nodes they make.

use super::operands::operand;
use super::{
    enter, expected, keyword, leave, node, token, Binary, Chain, Comparison, Fold, Input, Kind,
    Syntax,
};
use winnow::combinator::{alt, cut_err, expression, fail, opt, Infix, Prefix};
use winnow::error::{ContextError, ErrMode};
use winnow::stream::Location;
use winnow::{ModalResult, Parser};

pub(super) fn expr(i: &mut Input<'_>) -> ModalResult<Syntax> {
    expression(operand)
        .prefix(prefix)
        .infix(infix)
        .parse_next(i)
}

fn prefix<'s>(i: &mut Input<'s>) -> ModalResult<Prefix<Input<'s>, Syntax, ErrMode<ContextError>>> {
    let at = i.current_token_start();
    let op = opt(alt((
        token('-').value(Prefix(8, negate as _)),
        keyword("NOT").value(Prefix(3, not as _)),
    )))
    .parse_next(i)?;
    match op {
        Some(op) => {
            enter(i, at)?;
            Ok(op)
        }
        None => cut_err(fail).context(expected("a value")).parse_next(i),
    }
}

fn negate(i: &mut Input<'_>, operand: Syntax) -> ModalResult<Syntax> {
    leave(i);
    node(
        i,
        operand.at,
        operand.depth,
        Kind::Negate(Box::new(operand)),
    )
}

fn not(i: &mut Input<'_>, operand: Syntax) -> ModalResult<Syntax> {
    leave(i);
    node(i, operand.at, operand.depth, Kind::Not(Box::new(operand)))
}

fn infix<'s>(i: &mut Input<'s>) -> ModalResult<Fold<'s>> {
    use Comparison::*;
    let compare = |c| Binary::Compare(c);
    let op = alt((
        alt((
            token("<>").value(compare(NotEqual)),
            token("<=").value(compare(LessOrEqual)),
            token(">=").value(compare(GreaterOrEqual)),
            token('<').value(compare(Less)),
            token('>').value(compare(Greater)),
            token('=').value(compare(Equal)),
        ))
        .map(Ok),
        alt((
            token('+').value(Binary::Add),
            token('-').value(Binary::Subtract),
            token('*').value(Binary::Multiply),
            token('/').value(Binary::Divide),
        ))
        .map(Ok),
        alt((
            token('&').value(Chain::Join),
            keyword("AND").value(Chain::And),
            keyword("OR").value(Chain::Or),
        ))
        .map(Err),
    ))
    .parse_next(i)?;
    Ok(fold(op))
}

/// How an operator folds its operands, and how tightly it binds.
fn fold<'s>(op: Result<Binary, Chain>) -> Fold<'s> {
    use Comparison::*;
    match op {
        Ok(Binary::Compare(c)) => Infix::Neither(
            4,
            match c {
                Equal => |i, a, b| binary(i, Binary::Compare(Equal), a, b),
                NotEqual => |i, a, b| binary(i, Binary::Compare(NotEqual), a, b),
                Less => |i, a, b| binary(i, Binary::Compare(Less), a, b),
                LessOrEqual => |i, a, b| binary(i, Binary::Compare(LessOrEqual), a, b),
                Greater => |i, a, b| binary(i, Binary::Compare(Greater), a, b),
                GreaterOrEqual => |i, a, b| binary(i, Binary::Compare(GreaterOrEqual), a, b),
            },
        ),
        Ok(Binary::Add) => Infix::Left(6, |i, a, b| binary(i, Binary::Add, a, b)),
        Ok(Binary::Subtract) => Infix::Left(6, |i, a, b| binary(i, Binary::Subtract, a, b)),
        Ok(Binary::Multiply) => Infix::Left(7, |i, a, b| binary(i, Binary::Multiply, a, b)),
        Ok(Binary::Divide) => Infix::Left(7, |i, a, b| binary(i, Binary::Divide, a, b)),
        Err(Chain::Join) => Infix::Left(5, |i, a, b| chain(i, Chain::Join, a, b)),
        Err(Chain::And) => Infix::Left(2, |i, a, b| chain(i, Chain::And, a, b)),
        Err(Chain::Or) => Infix::Left(1, |i, a, b| chain(i, Chain::Or, a, b)),
    }
}

fn binary(i: &mut Input<'_>, op: Binary, a: Syntax, b: Syntax) -> ModalResult<Syntax> {
    let (at, children) = (a.at, a.depth.max(b.depth));
    node(i, at, children, Kind::Binary(op, Box::new(a), Box::new(b)))
}

/// `a op b`, added to `a` when `a` is already a chain of `op`.
fn chain(i: &mut Input<'_>, op: Chain, a: Syntax, b: Syntax) -> ModalResult<Syntax> {
    let Syntax { at, depth, kind } = a;
    match kind {
        Kind::Chain(of, mut list) if of == op => {
            let children = (depth - 1).max(b.depth);
            list.push(b);
            node(i, at, children, Kind::Chain(op, list))
        }
        kind => {
            let children = depth.max(b.depth);
            let a = Syntax { at, depth, kind };
            node(i, at, children, Kind::Chain(op, vec![a, b]))
        }
    }
}
