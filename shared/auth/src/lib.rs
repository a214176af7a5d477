//! Who is calling, and what they may do.
//!
//! Three kinds of credential reach the management API: API keys (machine credentials with
//! scopes), access tokens of signed-in members (short-lived JWTs naming the tenant and the
//! role), and access tokens of platform admins. The tenant always comes from the verified
//! credential. Every permission check goes through [`TenantPrincipal::authorize`], which
//! asks the one matrix in [`cdp_domain::Role::allows`] and records refusals in the audit log.

mod authenticator;
mod error;
mod invite;
mod password;
mod principal;
mod session;
mod signing;
mod throttle;
mod token;

pub use authenticator::{AuthOptions, Authenticator};
pub use error::AuthError;
pub use invite::{Invited, bootstrap_platform_admin, create_platform_admin, invite_member};
pub use password::{check_strength, hash_password, verify_password};
pub use principal::{Caller, PlatformPrincipal, SignedIn, TenantPrincipal, source_ip};
pub use session::{LoginRequest, Session};
pub use signing::reseal_signing_keys;
pub use token::Claims;
