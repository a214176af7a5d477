//! Tenants (workspaces), their sources, and the credentials that name a tenant: write keys
//! for ingestion and API keys for the management API. Secrets are stored only as hashes.

mod create;
mod credential;
mod error;
mod grant_cache;
mod limit;
mod member;
mod rejection;
mod source;
mod store;
mod tenant;
mod token;
mod user;

pub use create::{CreatedTenant, create_tenant};
pub use credential::{
    ALL_SCOPES, ApiKeyGrant, CredentialInfo, KeyCheck, WriteKeyGrant, authenticate_api_key,
    authenticate_write_key, create_api_key, create_write_key, find_credential, list_credentials,
    revoke_credential,
};
pub use error::TenancyError;
pub use grant_cache::{GRANT_TTL, WriteKeyCache, credentials_changed};
pub use limit::{Quotas, quotas, set_quotas};
pub use member::{
    Member, add_member, count_owners, find_member, list_members, memberships_of, remove_member,
    role_in, set_role,
};
pub use rejection::{Rejection, record_rejection, rejections_after};
pub use source::{Source, SourceKind, create_source, find_source, list_sources};
pub use tenant::{
    Tenant, TenantStatus, find_tenant, list_tenants, mark_tenant_deleted, rename_tenant,
    set_tenant_status,
};
pub use token::{SecretToken, TokenKind, hash as token_hash};
pub use user::{
    NewUser, User, any_platform_admin, create_user, find_user, find_user_by_email, set_password,
};
