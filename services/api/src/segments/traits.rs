//! Computed trait definitions.

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_profile_store as store;
use cdp_segments::{ComputedTrait, validate};
use serde_json::{Value, json};

use super::{catalog, definitions, rejected};
use crate::profiles::store_error;
use crate::{ApiError, ApiState};

pub(super) async fn list_traits(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let rows = store::computed_traits(&state.db, principal.tenant_id)
        .await
        .map_err(store_error)?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = r.definition.to_json();
            v["created_at"] = json!(r.created_at);
            v["updated_at"] = json!(r.updated_at);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "computed_traits": items })))
}

pub(super) async fn put_trait(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let mut body = body.into_inner();
    match body.as_object_mut() {
        Some(object) => match object.get("name") {
            Some(given) if given != &json!(name.as_str()) => {
                return Err(ApiError::Invalid(
                    "the name in the body differs from the path's".into(),
                ));
            }
            _ => {
                object.insert("name".into(), json!(name.as_str()));
            }
        },
        None => return Err(ApiError::Invalid("expected a JSON object".into())),
    }
    let definition = ComputedTrait::from_json(&body).map_err(|e| {
        rejected(
            "the computed trait is not valid",
            json!({ "problems": e.0 }),
        )
    })?;
    let existing = definitions(&state, tenant).await?;
    // A segment comparing it as a number must still be valid with the new kind.
    let mut catalog = catalog(&existing);
    catalog
        .computed
        .insert(definition.name.clone(), definition.aggregation.kind);
    for s in &existing.segments {
        if validate(&s.condition, &catalog, Some(&s.id.to_string())).is_err() {
            return Err(ApiError::Conflict(
                "a segment compares this computed trait in a way its new kind does not allow",
            ));
        }
    }
    let created = store::put_computed_trait(&state.db, tenant, &definition)
        .await
        .map_err(store_error)?;
    principal
        .record(
            if created {
                "computed_trait.create"
            } else {
                "computed_trait.update"
            },
            Some(("computed_trait", definition.name.clone())),
            cdp_audit::Outcome::Success,
            definition.to_json(),
        )
        .await;
    state.wake_projector(tenant);
    let status = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(definition.to_json());
    Ok(status)
}

pub(super) async fn delete_trait(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let existing = definitions(&state, tenant).await?;
    if existing
        .segments
        .iter()
        .any(|s| s.condition.computed_traits().contains(&name.as_str()))
    {
        return Err(ApiError::Conflict("a segment uses this computed trait"));
    }
    if !store::delete_computed_trait(&state.db, tenant, &name)
        .await
        .map_err(store_error)?
    {
        return Err(ApiError::NotFound("computed trait"));
    }
    principal
        .record(
            "computed_trait.delete",
            Some(("computed_trait", name.clone())),
            cdp_audit::Outcome::Success,
            json!({}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
