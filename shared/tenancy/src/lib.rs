//! Tenants (workspaces), their sources, and the credentials that name a tenant: write keys
//! for ingestion and API keys for the management API. Secrets are stored only as hashes.

mod create;
mod credential;
mod error;
mod limit;
mod source;
mod store;
mod token;

pub use create::{CreatedTenant, create_tenant};
pub use credential::{ApiKeyGrant, WriteKeyGrant, authenticate_api_key, authenticate_write_key};
pub use error::TenancyError;
pub use limit::{ingest_limit, set_ingest_limit};
pub use source::{Source, SourceKind, create_source, find_source, list_sources};
pub use token::{SecretToken, TokenKind};
