//! Writing a condition in its text form, so that [`crate::parse`] reads back the same
//! condition.

use cdp_profiles::compare::Op;
use serde_json::Value;

use crate::condition::{Comparison, Condition, Performed, Window};
use crate::parse::name_char;

const KEYWORDS: [&str; 27] = [
    "and",
    "or",
    "not",
    "trait",
    "computed",
    "performed",
    "where",
    "times",
    "time",
    "within",
    "days",
    "day",
    "hours",
    "hour",
    "in",
    "segment",
    "consent",
    "contains",
    "starts",
    "with",
    "exists",
    "before",
    "after",
    "last",
    "true",
    "false",
    "null",
];

/// The text form of a condition.
pub fn to_text(condition: &Condition) -> String {
    let mut out = String::new();
    write(condition, &mut out, Context::Top);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Context {
    Top,
    InOr,
    InAnd,
    InNot,
}

fn write(c: &Condition, out: &mut String, context: Context) {
    match c {
        Condition::Or(items) => {
            let wrap = context != Context::Top;
            join(items, " or ", out, Context::InOr, wrap);
        }
        Condition::And(items) => {
            let wrap = matches!(context, Context::InAnd | Context::InNot);
            join(items, " and ", out, Context::InAnd, wrap);
        }
        Condition::Not(inner) => {
            out.push_str("not ");
            write(inner, out, Context::InNot);
        }
        Condition::Trait(cmp) => {
            out.push_str("trait ");
            comparison(cmp, out);
        }
        Condition::Computed(cmp) => {
            out.push_str("computed ");
            comparison(cmp, out);
        }
        Condition::Performed(p) => performed(p, out),
        Condition::InSegment(id) => {
            out.push_str("in segment ");
            out.push_str(&quoted(id));
        }
        Condition::Consent(purpose) => {
            out.push_str("consent ");
            out.push_str(&quoted(purpose));
        }
    }
}

fn join(items: &[Condition], by: &str, out: &mut String, inner: Context, wrap: bool) {
    if wrap {
        out.push('(');
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(by);
        }
        write(item, out, inner);
    }
    if wrap {
        out.push(')');
    }
}

fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// A name bare where it reads back as itself, quoted otherwise.
fn name(text: &str) -> String {
    let mut chars = text.chars();
    let bare = chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && text.chars().all(name_char)
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(text));
    if bare { text.to_owned() } else { quoted(text) }
}

fn symbol(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Neq => "!=",
        Op::Lt => "<",
        Op::Lte => "<=",
        Op::Gt => ">",
        Op::Gte => ">=",
        Op::Contains => "contains",
        Op::StartsWith => "starts with",
        Op::Exists => "exists",
        Op::In => "in",
        Op::Before => "before",
        Op::After => "after",
        Op::WithinLastDays => "within last",
    }
}

fn operator_and_value(op: Op, value: &Value, out: &mut String) {
    out.push_str(symbol(op));
    if op == Op::Exists {
        return;
    }
    out.push(' ');
    literal(value, out);
    if op == Op::WithinLastDays {
        out.push_str(" days");
    }
}

fn literal(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                literal(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn comparison(cmp: &Comparison, out: &mut String) {
    out.push_str(&name(&cmp.name));
    out.push(' ');
    operator_and_value(cmp.op, &cmp.value, out);
}

fn performed(p: &Performed, out: &mut String) {
    out.push_str("performed ");
    out.push_str(&quoted(&p.event));
    if !p.filters.is_empty() {
        out.push_str(" where ");
        let grouped = p.filters.len() > 1;
        if grouped {
            out.push('(');
        }
        for (i, f) in p.filters.iter().enumerate() {
            if i > 0 {
                out.push_str(" and ");
            }
            out.push_str(&name(&f.property));
            out.push(' ');
            operator_and_value(f.op, &f.value, out);
        }
        if grouped {
            out.push(')');
        }
    }
    if let Some(times) = p.times {
        out.push_str(&format!(" {} {} times", symbol(times.op), times.value));
    }
    match p.within {
        Some(Window::Days(d)) => out.push_str(&format!(" within {d} days")),
        Some(Window::Hours(h)) => out.push_str(&format!(" within {h} hours")),
        None => {}
    }
}
