//! HTTP pieces every role shares: the error body `{"code": "...", "message": "..."}`,
//! reading credentials from the `Authorization` header, and JSON extractor errors in the
//! same shape, a deadline for request bodies, request telemetry.

mod body_deadline;
mod credentials;
mod page_file;
mod problem;
mod routes;
mod telemetry;

pub use body_deadline::{MIN_BYTES_PER_SECOND, body_deadline};
pub use credentials::{Presented, presented_credential};
pub use page_file::page_file;
pub use problem::{
    Problem, json_config, not_found, path_config, problem, problem_with_retry, query_config,
};
pub use routes::{Content, Operation, Routes};
pub use telemetry::{RequestId, record_tenant, request_telemetry};
