//! Who is calling the management API. The tenant always comes from the verified credential:
//! a handler that takes a [`TenantPrincipal`] can only ever act inside that tenant.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use cdp_domain::{CredentialId, TenantId};
use cdp_http::{Presented, presented_credential, problem};
use cdp_storage::DatabaseConnection;
use thiserror::Error;

/// What a credential may do. An owner's key holds every scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    EventsRead,
    SourcesRead,
    SourcesWrite,
    ImportsWrite,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsRead => "events:read",
            Scope::SourcesRead => "sources:read",
            Scope::SourcesWrite => "sources:write",
            Scope::ImportsWrite => "imports:write",
        }
    }
}

/// The verified caller: a tenant and what it may do there.
#[derive(Clone, Debug)]
pub struct TenantPrincipal {
    pub tenant_id: TenantId,
    pub credential_id: CredentialId,
    scopes: Vec<String>,
}

impl TenantPrincipal {
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.iter().any(|s| s == "*" || s == scope.as_str()) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(scope))
        }
    }
}

#[derive(Debug, Error)]
pub enum AuthError {
    #[error("an API key is required: send it as Authorization: Bearer <key>")]
    Missing,
    #[error("unknown or revoked API key")]
    Invalid,
    #[error("this credential lacks the {} scope", .0.as_str())]
    Forbidden(Scope),
    #[error("credentials cannot be checked right now")]
    Unavailable,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::Invalid => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
            AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuthError::Missing | AuthError::Invalid => "unauthorized",
            AuthError::Forbidden(_) => "forbidden",
            AuthError::Unavailable => "unavailable",
        };
        problem(self.status_code(), code, &self.to_string())
    }
}

/// Registered as app data so the extractor can reach the credential store.
#[derive(Clone)]
pub struct Authenticator {
    db: DatabaseConnection,
}

impl Authenticator {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn principal(&self, request: &HttpRequest) -> Result<TenantPrincipal, AuthError> {
        let secret = match presented_credential(request) {
            Some(Presented::Bearer(secret)) => secret,
            Some(_) => return Err(AuthError::Invalid),
            None => return Err(AuthError::Missing),
        };
        let grant = cdp_tenancy::authenticate_api_key(&self.db, &secret)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "credential lookup failed");
                AuthError::Unavailable
            })?
            .ok_or(AuthError::Invalid)?;
        Ok(TenantPrincipal {
            tenant_id: grant.tenant_id,
            credential_id: grant.credential_id,
            scopes: grant.scopes,
        })
    }
}

impl FromRequest for TenantPrincipal {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let authenticator = request
                .app_data::<web::Data<Authenticator>>()
                .expect("the Authenticator is registered as app data")
                .clone();
            authenticator.principal(&request).await
        })
    }
}
