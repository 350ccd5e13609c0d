//! Evaluation with RocketMQ's semantics: three-valued logic, Java's type promotion
//! in comparisons, and "an exception means no match".
//!
//! Java's `ComparisonExpression` throws when a property cannot be converted for a
//! comparison (e.g. `a > 5` with `a = 'abc'`); the broker catches it and does not
//! deliver the message. That exception unwinds the whole expression, so
//! `a > 5 OR b = 'x'` does not match `a = 'abc', b = 'x'` on a Java broker either.
//! [`Fault`] models that unwinding.

use super::ast::{Literal, Node, OrderOp, TextOp};
use super::java_text::{parse_bool, parse_double, parse_int, parse_long};
use super::PropertyLookup;
use std::cmp::Ordering;

/// A value during evaluation; strings borrow from the expression or the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

impl<'a> Value<'a> {
    pub(crate) fn from_literal(lit: &'a Literal) -> Value<'a> {
        match lit {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(v) => Value::Int(*v),
            Literal::Long(v) => Value::Long(*v),
            Literal::Double(v) => Value::Double(*v),
            Literal::Str(s) => Value::Str(s),
        }
    }
}

/// Evaluation was aborted the way a Java exception would abort it: no match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault;

pub(crate) type Outcome<'a> = Result<Value<'a>, Fault>;

/// Java's `ComparisonExpression.__compare` with string conversion enabled (RocketMQ
/// always enables it): values of different types are converted toward the right
/// operand's type; a string that does not parse is a [`Fault`]; types that cannot
/// be converted compare as "less" (Java returns -1).
pub(crate) fn compare(l: Value<'_>, r: Value<'_>) -> Result<Ordering, Fault> {
    use Value::*;
    Ok(match (l, r) {
        (Null, _) | (_, Null) => return Err(Fault),
        (Bool(a), Bool(b)) => a.cmp(&b),
        (Int(a), Int(b)) => a.cmp(&b),
        (Long(a), Long(b)) => a.cmp(&b),
        (Double(a), Double(b)) => java_double_cmp(a, b),
        (Str(a), Str(b)) => a.cmp(b),
        // Java casts the Boolean itself to String here: ClassCastException.
        (Bool(_), Str(_)) => return Err(Fault),
        (Int(a), Long(b)) => i64::from(a).cmp(&b),
        (Int(a), Double(b)) => java_double_cmp(f64::from(a), b),
        (Int(a), Str(b)) => a.cmp(&parse_int(b).ok_or(Fault)?),
        (Long(a), Int(b)) => a.cmp(&i64::from(b)),
        (Long(a), Double(b)) => java_double_cmp(a as f64, b),
        (Long(a), Str(b)) => a.cmp(&parse_long(b).ok_or(Fault)?),
        (Double(a), Int(b)) => java_double_cmp(a, f64::from(b)),
        (Double(a), Long(b)) => java_double_cmp(a, b as f64),
        (Double(a), Str(b)) => java_double_cmp(a, parse_double(b).ok_or(Fault)?),
        (Str(a), Bool(b)) => parse_bool(a).cmp(&b),
        (Str(a), Int(b)) => parse_int(a).ok_or(Fault)?.cmp(&b),
        (Str(a), Long(b)) => parse_long(a).ok_or(Fault)?.cmp(&b),
        (Str(a), Double(b)) => java_double_cmp(parse_double(a).ok_or(Fault)?, b),
        _ => Ordering::Less,
    })
}

/// `Double.compareTo`: -0.0 < 0.0, and NaN equals itself and exceeds everything.
fn java_double_cmp(a: f64, b: f64) -> Ordering {
    let canonical = |x: f64| if x.is_nan() { f64::NAN } else { x };
    canonical(a).total_cmp(&canonical(b))
}

pub(crate) fn eval<'a>(node: &'a Node, props: &'a dyn PropertyLookup) -> Outcome<'a> {
    Ok(match node {
        Node::Const(lit) => Value::from_literal(lit),
        Node::Property(name) => props.property(name).map_or(Value::Null, Value::Str),
        Node::Negate(inner) => match eval(inner, props)? {
            Value::Int(v) => Value::Int(v.wrapping_neg()),
            Value::Long(v) => Value::Long(v.wrapping_neg()),
            Value::Double(v) => Value::Double(-v),
            _ => Value::Null,
        },
        Node::Not(inner) => match eval(inner, props)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(!b),
            _ => return Err(Fault),
        },
        Node::BoolCast(name) => match props.property(name) {
            None => Value::Null,
            // A property value is a string, never a Boolean.
            Some(_) => Value::Bool(false),
        },
        Node::And(items) => logic(items, props, false)?,
        Node::Or(items) => logic(items, props, true)?,
        Node::Equal(l, r) => {
            let lv = eval(l, props)?;
            let rv = eval(r, props)?;
            match (lv, rv) {
                (Value::Null, Value::Null) => Value::Bool(true),
                (Value::Null, _) => Value::Null,
                // Asymmetric in Java too: a NULL right side gives FALSE, not NULL.
                (_, Value::Null) => Value::Bool(false),
                _ => Value::Bool(compare(lv, rv)? == Ordering::Equal),
            }
        }
        Node::IsNull(inner) => Value::Bool(eval(inner, props)? == Value::Null),
        Node::Order(op, l, r) => {
            let lv = eval(l, props)?;
            if lv == Value::Null {
                return Ok(Value::Null);
            }
            let rv = eval(r, props)?;
            if rv == Value::Null {
                return Ok(Value::Null);
            }
            let ordering = match (lv, rv) {
                // Two strings are ordered as doubles or not at all.
                (Value::Str(a), Value::Str(b)) => {
                    java_double_cmp(parse_double(a).ok_or(Fault)?, parse_double(b).ok_or(Fault)?)
                }
                _ => compare(lv, rv)?,
            };
            Value::Bool(match op {
                OrderOp::Gt => ordering == Ordering::Greater,
                OrderOp::GtEq => ordering != Ordering::Less,
                OrderOp::Lt => ordering == Ordering::Less,
                OrderOp::LtEq => ordering != Ordering::Greater,
            })
        }
        Node::In {
            property,
            values,
            negated,
        } => match props.property(property) {
            None => Value::Null,
            Some(v) => {
                let found = values.binary_search_by(|item| (**item).cmp(v)).is_ok();
                Value::Bool(found != *negated)
            }
        },
        Node::Text {
            op,
            negated,
            subject,
            needle,
        } => {
            // Java answers FALSE for an empty needle before looking at the subject,
            // and FALSE (not NULL) for a missing or non-string subject, negated or not.
            if needle.is_empty() {
                return Ok(Value::Bool(false));
            }
            match eval(subject, props)? {
                Value::Str(s) => {
                    let hit = match op {
                        TextOp::Contains => s.contains(&**needle),
                        TextOp::StartsWith => s.starts_with(&**needle),
                        TextOp::EndsWith => s.ends_with(&**needle),
                    };
                    Value::Bool(hit != *negated)
                }
                _ => Value::Bool(false),
            }
        }
    })
}

/// AND (`short_on = false`) or OR (`short_on = true`) over a flattened chain, left to
/// right: the first operand equal to `short_on` decides; otherwise any NULL makes
/// the result NULL. This equals Java's nested binary evaluation.
fn logic<'a>(items: &'a [Node], props: &'a dyn PropertyLookup, short_on: bool) -> Outcome<'a> {
    let mut unknown = false;
    for item in items {
        match eval(item, props)? {
            Value::Bool(b) if b == short_on => return Ok(Value::Bool(short_on)),
            Value::Bool(_) => {}
            Value::Null => unknown = true,
            _ => return Err(Fault),
        }
    }
    Ok(if unknown {
        Value::Null
    } else {
        Value::Bool(!short_on)
    })
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse;
    use super::*;
    use std::collections::HashMap;

    fn outcome(expr: &str, props: &[(&str, &str)]) -> Result<Option<bool>, Fault> {
        let node = parse(expr).expect("expression compiles");
        let map: HashMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match eval(&node, &map)? {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b)),
            other => panic!("non-boolean result {other:?}"),
        }
    }

    const T: Result<Option<bool>, Fault> = Ok(Some(true));
    const F: Result<Option<bool>, Fault> = Ok(Some(false));
    const U: Result<Option<bool>, Fault> = Ok(None);

    /// Kleene truth tables, as LogicExpression.createAND/createOR and
    /// UnaryExpression.createNOT compute them. `n` is a missing property compared
    /// with `=`, which is NULL (unknown).
    #[test]
    fn three_valued_logic_matches_logic_expression() {
        let t = "t = '1'";
        let f = "t = '2'";
        let n = "n = '1'";
        let props = [("t", "1")];
        let table = [
            (t, t, T, T),
            (t, f, F, T),
            (t, n, U, T),
            (f, t, F, T),
            (f, f, F, F),
            (f, n, F, U),
            (n, t, U, T),
            (n, f, F, U),
            (n, n, U, U),
        ];
        for (l, r, and, or) in table {
            assert_eq!(
                outcome(&format!("({l}) AND ({r})"), &props),
                and,
                "{l} AND {r}"
            );
            assert_eq!(
                outcome(&format!("({l}) OR ({r})"), &props),
                or,
                "{l} OR {r}"
            );
        }
        assert_eq!(outcome(&format!("NOT ({t})"), &props), F);
        assert_eq!(outcome(&format!("NOT ({f})"), &props), T);
        assert_eq!(outcome(&format!("NOT ({n})"), &props), U);
    }

    #[test]
    fn equality_with_null_is_asymmetric_like_java() {
        assert_eq!(outcome("a = 'x'", &[]), U);
        assert_eq!(outcome("'x' = a", &[]), F);
        assert_eq!(outcome("a = b", &[]), T);
        assert_eq!(outcome("a <> 'x'", &[]), U);
        assert_eq!(outcome("'x' <> a", &[]), T);
    }

    #[test]
    fn unconvertible_strings_fault_and_the_fault_spreads() {
        assert_eq!(outcome("a > 5", &[("a", "abc")]), Err(Fault));
        assert_eq!(outcome("a = 5", &[("a", "5.0")]), Err(Fault));
        assert_eq!(
            outcome("a > 5 OR b = 'x'", &[("a", "abc"), ("b", "x")]),
            Err(Fault)
        );
        // Short-circuit happens before the fault.
        assert_eq!(outcome("b = 'x' OR a > 5", &[("a", "abc"), ("b", "x")]), T);
    }

    #[test]
    fn compare_promotes_like_java() {
        assert_eq!(compare(Value::Int(5), Value::Long(5)), Ok(Ordering::Equal));
        assert_eq!(
            compare(Value::Long(5), Value::Double(5.5)),
            Ok(Ordering::Less)
        );
        assert_eq!(
            compare(Value::Str("6"), Value::Int(5)),
            Ok(Ordering::Greater)
        );
        assert_eq!(
            compare(Value::Str("1e1"), Value::Double(9.5)),
            Ok(Ordering::Greater)
        );
        assert_eq!(
            compare(Value::Str("TRUE"), Value::Bool(true)),
            Ok(Ordering::Equal)
        );
        assert_eq!(compare(Value::Bool(true), Value::Str("true")), Err(Fault));
        assert_eq!(
            compare(Value::Int(1), Value::Bool(true)),
            Ok(Ordering::Less)
        );
        assert_eq!(
            compare(Value::Bool(true), Value::Int(1)),
            Ok(Ordering::Less)
        );
        assert_eq!(java_double_cmp(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(java_double_cmp(-0.0, 0.0), Ordering::Less);
        assert_eq!(java_double_cmp(-f64::NAN, f64::NAN), Ordering::Equal);
    }

    #[test]
    fn negation_only_applies_to_numbers() {
        assert_eq!(outcome("a = -5", &[("a", "-5")]), T);
        assert_eq!(outcome("-a IS NULL", &[("a", "5")]), T);
        assert_eq!(outcome("a > -2.5", &[("a", "-2")]), T);
        assert_eq!(outcome("a < - -3", &[("a", "2")]), T);
    }
}
