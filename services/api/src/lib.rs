//! The management API: what a tenant reads and configures with its API key. Every handler
//! takes a [`cdp_auth::TenantPrincipal`], so every query is scoped to the caller's tenant.

mod admin;
mod audit;
mod auth;
mod destinations;
pub mod endpoints;
mod error;
mod events;
mod exports;
mod gate;
mod keys;
mod members;
mod privacy;
mod profiles;
mod projection;
mod segments;
mod sources;
mod stream;
mod tenant;

use cdp_keyring::Keyring;
use cdp_storage::DatabaseConnection;

pub use error::ApiError;
pub use gate::{access_gate, find as find_endpoint};

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub db: DatabaseConnection,
    pub keyring: Keyring,
    /// This process's projector, when it runs one: told at once about rebuilds and
    /// resumes (projectors elsewhere find them in their next sweep).
    pub projector: Option<cdp_projector::Projector>,
    /// This process's dispatcher, when it runs one: told at once about new destinations
    /// and replays (dispatchers elsewhere find them at their next poll).
    pub dispatcher: Option<cdp_dispatcher::Dispatcher>,
    /// Which addresses destinations may be sent to.
    pub network: cdp_destinations::NetworkPolicy,
    /// Sends test deliveries (under the same network policy and timeout as real ones).
    pub webhooks: cdp_dispatcher::WebhookClient,
}

impl ApiState {
    fn wake_dispatcher(&self) {
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.wake();
        }
    }

    fn wake_projector(&self, tenant: cdp_domain::TenantId) {
        if let Some(projector) = &self.projector {
            projector.wake(tenant);
        }
    }
}

/// Registers the management API. `web::Data<ApiState>` and `web::Data<Authenticator>` must
/// be registered as app data.
pub fn routes(cfg: &mut cdp_http::Routes) {
    auth::routes(cfg);
    tenant::routes(cfg);
    members::routes(cfg);
    keys::routes(cfg);
    events::routes(cfg);
    segments::routes(cfg);
    profiles::routes(cfg);
    privacy::routes(cfg);
    projection::routes(cfg);
    sources::routes(cfg);
    destinations::routes(cfg);
    stream::routes(cfg);
    exports::routes(cfg);
    audit::routes(cfg);
    admin::routes(cfg);
}
