//! Evaluation of a parsed condition against collected data and the chat context.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::condition::{CmpOp, Expr, InSet, Operand};
use super::types::Context;
use super::value::{as_number, display, lookup};

fn resolve(op: &Operand, data: &Map<String, Value>, ctx: &Context) -> Value {
    match op {
        Operand::Lit(v) => v.clone(),
        Operand::Var(path) => lookup(path, data, ctx),
    }
}

/// Recurses only through `(` and `not`, which the parser bounds (`MAX_CONDITION_DEPTH`); chains
/// of `and`/`or` are flat lists.
pub fn eval(expr: &Expr, data: &Map<String, Value>, ctx: &Context) -> bool {
    match expr {
        Expr::Or(items) => items.iter().any(|e| eval(e, data, ctx)),
        Expr::And(items) => items.iter().all(|e| eval(e, data, ctx)),
        Expr::Not(a) => !eval(a, data, ctx),
        Expr::Exists(op) => !resolve(op, data, ctx).is_null(),
        Expr::Truthy(op) => truthy(&resolve(op, data, ctx)),
        Expr::Cmp(l, op, r) => {
            let (l, r) = (resolve(l, data, ctx), resolve(r, data, ctx));
            match op {
                CmpOp::Eq => equals(&l, &r),
                CmpOp::Ne => !equals(&l, &r),
                CmpOp::Gt => compare(&l, &r) == Some(Ordering::Greater),
                CmpOp::Lt => compare(&l, &r) == Some(Ordering::Less),
                CmpOp::Ge => matches!(compare(&l, &r), Some(Ordering::Greater | Ordering::Equal)),
                CmpOp::Le => matches!(compare(&l, &r), Some(Ordering::Less | Ordering::Equal)),
                CmpOp::Contains => contains(&l, &r),
            }
        }
        Expr::In(l, set) => {
            let l = resolve(l, data, ctx);
            match set {
                InSet::List(items) => items.iter().any(|i| equals(&l, &resolve(i, data, ctx))),
                InSet::Value(op) => contains(&resolve(op, data, ctx), &l),
            }
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Equality: null equals only null; numbers (or numeric strings) numerically; else by text.
pub fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => {
            if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
                return x == y;
            }
            match (a, b) {
                (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => a == b,
                _ => display(a) == display(b),
            }
        }
    }
}

/// Ordering: undefined for null, lists and objects; numeric when both sides are numbers.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    let scalar = |v: &Value| !matches!(v, Value::Null | Value::Array(_) | Value::Object(_));
    if !scalar(a) || !scalar(b) {
        return None;
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(display(a).cmp(&display(b))),
    }
}

/// `hay contains needle`: substring for text, membership for lists, key for objects.
fn contains(hay: &Value, needle: &Value) -> bool {
    if needle.is_null() {
        return false;
    }
    match hay {
        Value::Null => false,
        Value::Array(items) => items.iter().any(|i| equals(i, needle)),
        Value::Object(map) => map.contains_key(&display(needle)),
        other => display(other).contains(&display(needle)),
    }
}
