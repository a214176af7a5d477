//! Comparing a value of a profile or an event with what a condition expects: the one
//! rule shared by segment conditions and computed traits' property filters.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    /// A string holding the text (without regard to case), or a list holding the value.
    Contains,
    /// A string beginning with the text (without regard to case).
    StartsWith,
    /// Present and not null; takes no value.
    Exists,
    /// Equal to one of a list.
    In,
    /// A date before the given one.
    Before,
    /// A date after the given one.
    After,
    /// A date within the last N days (N the value) up to now.
    WithinLastDays,
}

/// What an operator needs on its right-hand side, for validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    Nothing,
    Any,
    /// A number or a date.
    Ordered,
    Text,
    List,
    Date,
    PositiveNumber,
}

impl Op {
    pub const ALL: [Op; 13] = [
        Op::Eq,
        Op::Neq,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::Contains,
        Op::StartsWith,
        Op::Exists,
        Op::In,
        Op::Before,
        Op::After,
        Op::WithinLastDays,
    ];

    pub fn operand(self) -> Operand {
        match self {
            Op::Exists => Operand::Nothing,
            Op::Eq | Op::Neq => Operand::Any,
            Op::Lt | Op::Lte | Op::Gt | Op::Gte => Operand::Ordered,
            Op::Contains => Operand::Any,
            Op::StartsWith => Operand::Text,
            Op::In => Operand::List,
            Op::Before | Op::After => Operand::Date,
            Op::WithinLastDays => Operand::PositiveNumber,
        }
    }

    /// Whether the operand is of the kind the operator needs; `None` when it is, the
    /// reason when it is not.
    pub fn check_operand(self, value: Option<&Value>) -> Option<&'static str> {
        let value = match (self.operand(), value) {
            (Operand::Nothing, None | Some(Value::Null)) => return None,
            (Operand::Nothing, Some(_)) => return Some("exists takes no value"),
            (_, None) => return Some("a value is needed"),
            (_, Some(v)) => v,
        };
        let ok = match self.operand() {
            Operand::Nothing | Operand::Any => true,
            Operand::Ordered => value.is_number() || date_of(value).is_some(),
            Operand::Text => value.is_string(),
            Operand::List => value.is_array(),
            Operand::Date => date_of(value).is_some(),
            Operand::PositiveNumber => value.as_f64().is_some_and(|n| n > 0.0 && n <= 36_600.0),
        };
        if ok {
            None
        } else {
            Some(match self.operand() {
                Operand::Ordered => "a number or a date is needed for an ordering comparison",
                Operand::Text => "a string is needed",
                Operand::List => "a list is needed",
                Operand::Date => "a date (YYYY-MM-DD or RFC 3339) is needed",
                _ => "a number of days between 1 and 36600 is needed",
            })
        }
    }
}

/// A date written as RFC 3339 or as `YYYY-MM-DD` (midnight UTC).
pub fn date_of(value: &Value) -> Option<DateTime<Utc>> {
    let text = value.as_str()?;
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// A number, or a string holding one (shops often send prices as text).
pub fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            matches!((number_of(a), number_of(b)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    if b.is_number() {
        return number_of(a)?.partial_cmp(&number_of(b)?);
    }
    date_of(a)?.partial_cmp(&date_of(b)?)
}

fn within_last_days(expected: &Value) -> Option<TimeDelta> {
    let days = expected.as_f64()?;
    TimeDelta::try_seconds((days * 86_400.0) as i64)
}

/// Whether `actual` (absent when the profile or event has no such value) satisfies the
/// operator against `expected`. A missing value satisfies only "not equal".
pub fn compare(op: Op, actual: Option<&Value>, expected: &Value, now: DateTime<Utc>) -> bool {
    let actual = actual.filter(|v| !v.is_null());
    let Some(actual) = actual else {
        return op == Op::Neq;
    };
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => equal(actual, expected),
        Op::Neq => !equal(actual, expected),
        Op::Lt => order(actual, expected) == Some(Less),
        Op::Lte => matches!(order(actual, expected), Some(Less | Equal)),
        Op::Gt => order(actual, expected) == Some(Greater),
        Op::Gte => matches!(order(actual, expected), Some(Greater | Equal)),
        Op::Contains => match (actual, expected) {
            (Value::Array(items), _) => items.iter().any(|i| equal(i, expected)),
            (Value::String(s), Value::String(part)) => {
                s.to_lowercase().contains(&part.to_lowercase())
            }
            _ => false,
        },
        Op::StartsWith => match (actual, expected) {
            (Value::String(s), Value::String(start)) => {
                s.to_lowercase().starts_with(&start.to_lowercase())
            }
            _ => false,
        },
        Op::Exists => true,
        Op::In => expected
            .as_array()
            .is_some_and(|list| list.iter().any(|v| equal(actual, v))),
        Op::Before => matches!((date_of(actual), date_of(expected)), (Some(a), Some(b)) if a < b),
        Op::After => matches!((date_of(actual), date_of(expected)), (Some(a), Some(b)) if a > b),
        Op::WithinLastDays => match (date_of(actual), within_last_days(expected)) {
            (Some(at), Some(span)) => at <= now && now - at <= span,
            _ => false,
        },
    }
}

/// The next moment after `now` at which [`compare`] may answer differently with the same
/// values, for operators relative to the present; `None` when only new data changes it.
pub fn changes_at(
    op: Op,
    actual: Option<&Value>,
    expected: &Value,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if op != Op::WithinLastDays {
        return None;
    }
    let at = date_of(actual?)?;
    let span = within_last_days(expected)?;
    if at > now {
        // A date still to come enters the window when it arrives.
        return Some(at);
    }
    let leaves = at + span;
    (leaves > now).then_some(leaves + TimeDelta::seconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        date_of(&json!("2026-12-01T12:00:00Z")).unwrap()
    }

    #[test]
    fn numbers_compare_across_representations() {
        assert!(compare(Op::Eq, Some(&json!(100)), &json!(100.0), now()));
        assert!(compare(Op::Gt, Some(&json!("120.50")), &json!(100), now()));
        assert!(!compare(Op::Gt, Some(&json!("cheap")), &json!(100), now()));
        assert!(compare(Op::Lte, Some(&json!(3)), &json!(3), now()));
    }

    #[test]
    fn a_missing_value_satisfies_only_not_equal() {
        for op in Op::ALL {
            assert_eq!(
                compare(op, None, &json!("x"), now()),
                op == Op::Neq,
                "{op:?}"
            );
            assert_eq!(
                compare(op, Some(&Value::Null), &json!("x"), now()),
                op == Op::Neq
            );
        }
    }

    #[test]
    fn text_and_lists() {
        assert!(compare(
            Op::Contains,
            Some(&json!("Gold Member")),
            &json!("gold"),
            now()
        ));
        assert!(compare(
            Op::Contains,
            Some(&json!(["a", 2])),
            &json!(2),
            now()
        ));
        assert!(compare(
            Op::StartsWith,
            Some(&json!("Pro-annual")),
            &json!("pro"),
            now()
        ));
        assert!(compare(
            Op::In,
            Some(&json!("pro")),
            &json!(["free", "pro"]),
            now()
        ));
        assert!(!compare(
            Op::In,
            Some(&json!("team")),
            &json!(["free", "pro"]),
            now()
        ));
    }

    #[test]
    fn dates_absolute_and_relative() {
        let joined = json!("2026-11-20");
        assert!(compare(
            Op::Before,
            Some(&joined),
            &json!("2026-11-21"),
            now()
        ));
        assert!(compare(
            Op::After,
            Some(&joined),
            &json!("2026-11-19T23:00:00Z"),
            now()
        ));
        assert!(compare(
            Op::WithinLastDays,
            Some(&joined),
            &json!(30),
            now()
        ));
        assert!(!compare(
            Op::WithinLastDays,
            Some(&joined),
            &json!(7),
            now()
        ));
        let leaves = changes_at(Op::WithinLastDays, Some(&joined), &json!(30), now()).unwrap();
        assert!(compare(
            Op::WithinLastDays,
            Some(&joined),
            &json!(30),
            leaves - TimeDelta::seconds(2)
        ));
        assert!(!compare(
            Op::WithinLastDays,
            Some(&joined),
            &json!(30),
            leaves
        ));
        assert_eq!(changes_at(Op::Eq, Some(&joined), &json!(30), now()), None);
    }

    #[test]
    fn operands_are_checked() {
        assert!(Op::Gt.check_operand(Some(&json!("soon"))).is_some());
        assert!(Op::Gt.check_operand(Some(&json!("2026-01-01"))).is_none());
        assert!(Op::In.check_operand(Some(&json!("x"))).is_some());
        assert!(Op::Exists.check_operand(None).is_none());
        assert!(Op::Exists.check_operand(Some(&json!(1))).is_some());
        assert!(Op::WithinLastDays.check_operand(Some(&json!(0))).is_some());
        assert!(Op::Eq.check_operand(None).is_some());
    }
}
