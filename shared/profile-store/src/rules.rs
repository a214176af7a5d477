use cdp_domain::TenantId;
use cdp_profiles::IdentityRules;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::StoreError;
use crate::entities::rules;

/// The tenant's identity rules (the defaults until it sets its own).
pub async fn identity_rules<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<IdentityRules, StoreError> {
    match rules::Entity::find_by_id(tenant.as_uuid())
        .one(conn)
        .await?
    {
        Some(row) => {
            IdentityRules::from_json(&row.rules).map_err(|_| StoreError::Corrupt("identity rules"))
        }
        None => Ok(IdentityRules::default()),
    }
}

pub async fn set_identity_rules<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    rules: &IdentityRules,
) -> Result<(), StoreError> {
    rules::Entity::insert(rules::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        rules: Set(serde_json::to_string(rules).expect("rules serialize")),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(rules::Column::TenantId)
            .update_columns([rules::Column::Rules, rules::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
