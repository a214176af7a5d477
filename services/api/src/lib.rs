//! The management API: what a tenant reads and configures with its API key. Every handler
//! takes a [`cdp_auth::TenantPrincipal`], so every query is scoped to the caller's tenant.

mod error;
mod events;
mod sources;

use actix_web::web;
use cdp_keyring::Keyring;
use cdp_storage::DatabaseConnection;

pub use error::ApiError;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub db: DatabaseConnection,
    pub keyring: Keyring,
}

/// Registers the management API. `web::Data<ApiState>` and `web::Data<Authenticator>` must
/// be registered as app data.
pub fn routes(cfg: &mut web::ServiceConfig) {
    events::routes(cfg);
    sources::routes(cfg);
}
