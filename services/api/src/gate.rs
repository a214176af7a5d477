//! The access gate: before any handler runs, the request's endpoint is looked up in
//! [`ENDPOINTS`], its caller authenticated, and the permission the table names checked
//! against the role matrix. This is the one place where access is decided; handlers
//! receive the verified principal and cannot be reached without one.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use cdp_auth::{AuthError, Authenticator};

use crate::endpoints::{ENDPOINTS, Endpoint, Guard};

/// The endpoint a request is for, matching `{…}` templates segment by segment.
pub fn find(method: &str, path: &str) -> Option<&'static Endpoint> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ENDPOINTS.iter().find(|e| {
        if e.method != method {
            return false;
        }
        let template: Vec<&str> = e.path.split('/').collect();
        template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s)
    })
}

pub async fn access_gate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(endpoint) = find(request.method().as_str(), request.path()) else {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let authenticator = request
        .app_data::<web::Data<Authenticator>>()
        .cloned()
        .expect("the Authenticator is registered as app data");
    let admitted: Result<(), AuthError> = async {
        match endpoint.guard {
            Guard::Public => {}
            Guard::SignedIn => {
                let who = authenticator.signed_in(request.request()).await?;
                request.extensions_mut().insert(who);
            }
            Guard::Tenant(permission) => {
                let principal = authenticator.tenant_caller(request.request()).await?;
                cdp_http::record_tenant(&principal.tenant_id);
                principal.authorize(permission).await?;
                request.extensions_mut().insert(principal);
            }
            Guard::Platform => {
                let admin = authenticator.platform_caller(request.request()).await?;
                request.extensions_mut().insert(admin);
            }
        }
        Ok(())
    }
    .await;
    match admitted {
        Ok(()) => next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(refused) => Ok(request
            .into_response(refused.error_response())
            .map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        assert_eq!(find("GET", "/v1/members").unwrap().path, "/v1/members");
        assert_eq!(
            find("PATCH", "/v1/members/usr_1").unwrap().path,
            "/v1/members/{user_id}"
        );
        assert_eq!(
            find("POST", "/v1/sources/src_1/keys").unwrap().path,
            "/v1/sources/{source_id}/keys"
        );
        assert!(find("GET", "/v1/members/usr_1/extra").is_none());
        assert!(find("PUT", "/v1/members").is_none());
        assert!(find("POST", "/v1/track").is_none());
        assert!(find("PATCH", "/v1/members/").is_none());
    }

    #[test]
    fn every_endpoint_is_listed_once() {
        for endpoint in ENDPOINTS {
            let concrete = endpoint.path.replace('{', "x").replace('}', "");
            let found = find(endpoint.method, &concrete).unwrap();
            assert_eq!(
                found.path, endpoint.path,
                "{} {} is shadowed",
                endpoint.method, endpoint.path
            );
        }
    }
}
