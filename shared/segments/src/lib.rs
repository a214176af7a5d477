//! Segments (audiences) and computed traits as marketers define them.
//!
//! A [`Condition`] has a JSON form (what the API stores) and a text form that people type
//! and read (`trait plan = "pro" and performed "Order Completed" >= 2 times within 30 days`);
//! each converts to the other. [`validate`] names the path of every bad node and why.
//! [`Audiences`] compiles a tenant's computed traits and segments into the aggregations
//! the projector keeps on every profile, and evaluates membership from a profile alone:
//! so incremental evaluation, a backfill and a rebuild agree.

mod condition;
mod definition;
mod evaluate;
mod json;
mod parse;
mod print;
mod validate;

/// The log records of a profile entering and leaving a segment: written by the projector,
/// read by whoever hands audience changes on (the dispatcher).
pub const SEGMENT_ENTERED: &str = "segment.entered";
pub const SEGMENT_EXITED: &str = "segment.exited";

pub use condition::{Comparison, Condition, Performed, PropertyFilter, Times, Window};
pub use definition::{ComputedTrait, DefinitionError, PRESETS, Preset};
pub use evaluate::{Audiences, Evaluation, Reads, SegmentDef};
pub use json::from_json;
pub use parse::{ParseError, parse};
pub use print::to_text;
pub use validate::{Catalog, Problem, validate};
