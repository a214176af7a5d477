//! The condition language: what a segment's members have in common.

use cdp_profiles::compare::Op;
use serde::Serialize;
use serde_json::Value;

/// A node of a segment's condition. Its JSON form is the serialization below; the text
/// form is [`crate::to_text`] and [`crate::parse`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// A trait of the profile (a dotted path reaches into an object value).
    Trait(Comparison),
    /// A computed trait, by name.
    Computed(Comparison),
    /// Events of a name, with property filters, a number of times, inside a window.
    Performed(Performed),
    /// Membership of another segment, by id.
    InSegment(String),
    /// Consent given (and not expired) for a purpose.
    Consent(String),
}

/// `name op value`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub name: String,
    pub op: Op,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

pub type PropertyFilter = cdp_profiles::PropertyFilter;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Performed {
    pub event: String,
    #[serde(rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<PropertyFilter>,
    /// How many times; absent means at least once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<Times>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<Window>,
}

/// A comparison of the number of events: one of `eq`, `neq`, `lt`, `lte`, `gt`, `gte`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Times {
    pub op: Op,
    pub value: u64,
}

/// A rolling window ending now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Days(u32),
    Hours(u32),
}

impl Window {
    pub fn hours(self) -> u32 {
        match self {
            Window::Days(d) => d.saturating_mul(24),
            Window::Hours(h) => h,
        }
    }
}

impl Condition {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a condition serializes")
    }

    /// Every node, depth first, this one included.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Condition)) {
        visit(self);
        match self {
            Condition::And(items) | Condition::Or(items) => {
                items.iter().for_each(|c| c.walk(visit));
            }
            Condition::Not(inner) => inner.walk(visit),
            _ => {}
        }
    }

    /// The segments this one refers to.
    pub fn segments(&self) -> Vec<&str> {
        let mut ids = Vec::new();
        self.walk(&mut |c| {
            if let Condition::InSegment(id) = c {
                ids.push(id.as_str());
            }
        });
        ids
    }

    /// The computed traits this one refers to.
    pub fn computed_traits(&self) -> Vec<&str> {
        let mut names = Vec::new();
        self.walk(&mut |c| {
            if let Condition::Computed(cmp) = c {
                names.push(cmp.name.as_str());
            }
        });
        names
    }
}
