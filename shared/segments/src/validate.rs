//! What a condition may refer to, checked before it is saved: computed traits that exist
//! and comparisons of the right type for them, segments that exist, and no cycles.

use std::collections::{BTreeMap, BTreeSet};

use cdp_profiles::AggKind;
use cdp_profiles::compare::Op;
use serde::Serialize;

use crate::condition::Condition;

/// One thing wrong with a condition: the path of its node and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The tenant's definitions a condition may refer to.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Computed traits by name, with the kind of value each gives.
    pub computed: BTreeMap<String, AggKind>,
    /// Segments by id, with their conditions (to find cycles).
    pub segments: BTreeMap<String, Condition>,
}

/// Checks a condition of segment `this` (`None` for one not saved yet, such as a preview)
/// against the catalog; every problem, with its path.
pub fn validate(
    condition: &Condition,
    catalog: &Catalog,
    this: Option<&str>,
) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    check(condition, "$", catalog, this, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check(
    c: &Condition,
    path: &str,
    catalog: &Catalog,
    this: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    let mut problem = |at: String, message: String| problems.push(Problem { path: at, message });
    match c {
        Condition::And(items) | Condition::Or(items) => {
            let kind = if matches!(c, Condition::And(_)) {
                "and"
            } else {
                "or"
            };
            for (i, item) in items.iter().enumerate() {
                check(
                    item,
                    &format!("{path}.{kind}[{i}]"),
                    catalog,
                    this,
                    problems,
                );
            }
        }
        Condition::Not(inner) => check(inner, &format!("{path}.not"), catalog, this, problems),
        Condition::Trait(_) | Condition::Consent(_) | Condition::Performed(_) => {}
        Condition::Computed(cmp) => match catalog.computed.get(&cmp.name) {
            None => problem(
                format!("{path}.computed.name"),
                format!("there is no computed trait named `{}`", cmp.name),
            ),
            Some(kind) if kind.is_numeric() => {
                let fits = match cmp.op {
                    Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte => cmp.value.is_number(),
                    Op::In => cmp
                        .value
                        .as_array()
                        .is_some_and(|items| items.iter().all(|v| v.is_number())),
                    Op::Exists => true,
                    _ => false,
                };
                if !fits {
                    problem(
                        format!("{path}.computed"),
                        format!(
                            "`{}` is a number: compare it with =, !=, <, <=, >, >=, in or exists and a number",
                            cmp.name
                        ),
                    );
                }
            }
            Some(_) => {}
        },
        Condition::InSegment(id) => {
            let at = format!("{path}.in_segment");
            if Some(id.as_str()) == this {
                problem(at, "a segment cannot contain itself".to_owned());
            } else if !catalog.segments.contains_key(id) {
                problem(at, format!("there is no segment `{id}`"));
            } else if let Some(this) = this
                && reaches(catalog, id, this)
            {
                problem(
                    at,
                    format!(
                        "segment `{id}` refers back to this one: segments may not form a cycle"
                    ),
                );
            }
        }
    }
}

/// Whether segment `from` refers, directly or through others, to `target`.
fn reaches(catalog: &Catalog, from: &str, target: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(id) = todo.pop() {
        if id == target {
            return true;
        }
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(c) = catalog.segments.get(&id) {
            todo.extend(c.segments().into_iter().map(str::to_owned));
        }
    }
    false
}
