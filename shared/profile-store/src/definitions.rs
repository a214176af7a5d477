//! A tenant's computed trait and segment definitions. Every query takes the tenant.

use std::collections::BTreeMap;

use cdp_domain::{ProfileId, SegmentId, TenantId};
use cdp_profiles::Aggregation;
use cdp_segments::{Audiences, ComputedTrait, Condition, SegmentDef, from_json};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::StoreError;
use crate::entities::{computed_trait, segment, segment_count, segment_member, segment_size};

#[derive(Clone, Debug)]
pub struct ComputedTraitRow {
    pub definition: ComputedTrait,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct SegmentRow {
    pub id: SegmentId,
    pub name: String,
    pub description: Option<String>,
    pub condition: Condition,
    /// Raised by every change of the condition.
    pub version: i64,
    /// The version whose membership has been computed over every profile.
    pub backfilled_version: i64,
    pub backfill_cursor: Option<ProfileId>,
    /// Profiles looked at by the running backfill.
    pub backfill_done: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SegmentRow {
    pub fn def(&self) -> SegmentDef {
        SegmentDef {
            id: self.id.to_string(),
            condition: self.condition.clone(),
        }
    }
}

impl TryFrom<segment::Model> for SegmentRow {
    type Error = StoreError;

    fn try_from(row: segment::Model) -> Result<Self, StoreError> {
        let json = serde_json::from_str(&row.condition)
            .map_err(|_| StoreError::Corrupt("a segment condition"))?;
        Ok(SegmentRow {
            id: SegmentId::from_uuid(row.segment_id),
            name: row.name,
            description: row.description,
            condition: from_json(&json).map_err(|_| StoreError::Corrupt("a segment condition"))?,
            version: row.version,
            backfilled_version: row.backfilled_version,
            backfill_cursor: row.backfill_cursor.map(ProfileId::from_uuid),
            backfill_done: row.backfill_done,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub async fn computed_traits<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<ComputedTraitRow>, StoreError> {
    computed_trait::Entity::find()
        .filter(computed_trait::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(computed_trait::Column::Name)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| {
            let json = serde_json::from_str(&row.definition)
                .map_err(|_| StoreError::Corrupt("a computed trait"))?;
            Ok(ComputedTraitRow {
                definition: ComputedTrait::from_json(&json)
                    .map_err(|_| StoreError::Corrupt("a computed trait"))?,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

/// Creates or replaces a computed trait; whether it was new.
pub async fn put_computed_trait<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    definition: &ComputedTrait,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let t = tenant.as_uuid();
    let text = definition.to_json().to_string();
    let existing = computed_trait::Entity::find_by_id((t, definition.name.clone()))
        .one(conn)
        .await?;
    match existing {
        Some(_) => {
            computed_trait::Entity::update_many()
                .col_expr(computed_trait::Column::Definition, Expr::value(text))
                .col_expr(computed_trait::Column::UpdatedAt, Expr::value(now))
                .filter(computed_trait::Column::TenantId.eq(t))
                .filter(computed_trait::Column::Name.eq(definition.name.clone()))
                .exec(conn)
                .await?;
            Ok(false)
        }
        None => {
            computed_trait::Entity::insert(computed_trait::ActiveModel {
                tenant_id: Set(t),
                name: Set(definition.name.clone()),
                definition: Set(text),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .exec_without_returning(conn)
            .await?;
            Ok(true)
        }
    }
}

pub async fn delete_computed_trait<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    name: &str,
) -> Result<bool, StoreError> {
    let deleted = computed_trait::Entity::delete_many()
        .filter(computed_trait::Column::TenantId.eq(tenant.as_uuid()))
        .filter(computed_trait::Column::Name.eq(name))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected > 0)
}

pub async fn segments<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<SegmentRow>, StoreError> {
    segment::Entity::find()
        .filter(segment::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(segment::Column::CreatedAt)
        .order_by_asc(segment::Column::SegmentId)
        .all(conn)
        .await?
        .into_iter()
        .map(SegmentRow::try_from)
        .collect()
}

pub async fn segment_by_id<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: SegmentId,
) -> Result<Option<SegmentRow>, StoreError> {
    segment::Entity::find_by_id((tenant.as_uuid(), id.as_uuid()))
        .one(conn)
        .await?
        .map(SegmentRow::try_from)
        .transpose()
}

/// Saves a new segment (a name taken by another is a unique violation of the database).
pub async fn insert_segment<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: SegmentId,
    name: &str,
    description: Option<&str>,
    condition: &Condition,
) -> Result<(), StoreError> {
    let now = Utc::now();
    segment::Entity::insert(segment::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        segment_id: Set(id.as_uuid()),
        name: Set(name.to_owned()),
        description: Set(description.map(str::to_owned)),
        condition: Set(condition.to_json().to_string()),
        version: Set(1),
        backfilled_version: Set(0),
        backfill_cursor: Set(None),
        backfill_done: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// Changes a segment; a new condition raises its version, which starts a backfill.
pub async fn update_segment<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: SegmentId,
    name: &str,
    description: Option<&str>,
    condition: &Condition,
) -> Result<bool, StoreError> {
    let Some(old) = segment_by_id(conn, tenant, id).await? else {
        return Ok(false);
    };
    let changed = old.condition != *condition;
    let mut update = segment::Entity::update_many()
        .col_expr(segment::Column::Name, Expr::value(name))
        .col_expr(
            segment::Column::Description,
            Expr::value(description.map(str::to_owned)),
        )
        .col_expr(
            segment::Column::Condition,
            Expr::value(condition.to_json().to_string()),
        )
        .col_expr(segment::Column::UpdatedAt, Expr::value(Utc::now()));
    if changed {
        update = update
            .col_expr(
                segment::Column::Version,
                Expr::col(segment::Column::Version).add(1),
            )
            .col_expr(
                segment::Column::BackfillCursor,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .col_expr(segment::Column::BackfillDone, Expr::value(0i64));
    }
    update
        .filter(segment::Column::TenantId.eq(tenant.as_uuid()))
        .filter(segment::Column::SegmentId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(true)
}

/// Deletes a segment and its memberships in every generation.
pub async fn delete_segment<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: SegmentId,
) -> Result<bool, StoreError> {
    let (t, s) = (tenant.as_uuid(), id.as_uuid());
    segment_member::Entity::delete_many()
        .filter(segment_member::Column::TenantId.eq(t))
        .filter(segment_member::Column::SegmentId.eq(s))
        .exec(conn)
        .await?;
    segment_count::Entity::delete_many()
        .filter(segment_count::Column::TenantId.eq(t))
        .filter(segment_count::Column::SegmentId.eq(s))
        .exec(conn)
        .await?;
    segment_size::Entity::delete_many()
        .filter(segment_size::Column::TenantId.eq(t))
        .filter(segment_size::Column::SegmentId.eq(s))
        .exec(conn)
        .await?;
    let deleted = segment::Entity::delete_many()
        .filter(segment::Column::TenantId.eq(t))
        .filter(segment::Column::SegmentId.eq(s))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Records a backfill's progress; `finished` marks `version` as computed everywhere
/// (unless the segment changed meanwhile).
pub async fn record_backfill<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: SegmentId,
    version: i64,
    cursor: Option<ProfileId>,
    done: i64,
    finished: bool,
) -> Result<(), StoreError> {
    let mut update = segment::Entity::update_many()
        .col_expr(
            segment::Column::BackfillCursor,
            Expr::value(cursor.map(|c| c.as_uuid())),
        )
        .col_expr(segment::Column::BackfillDone, Expr::value(done));
    if finished {
        update = update.col_expr(segment::Column::BackfilledVersion, Expr::value(version));
    }
    update
        .filter(segment::Column::TenantId.eq(tenant.as_uuid()))
        .filter(segment::Column::SegmentId.eq(id.as_uuid()))
        .filter(segment::Column::Version.eq(version))
        .exec(conn)
        .await?;
    Ok(())
}

/// After a rebuild took over: segments created or changed while it replayed were not
/// evaluated from its start, so they are backfilled again over its profiles.
pub async fn backfill_again_since<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    since: DateTime<Utc>,
) -> Result<(), StoreError> {
    segment::Entity::update_many()
        .col_expr(segment::Column::BackfilledVersion, Expr::value(0i64))
        .col_expr(
            segment::Column::BackfillCursor,
            Expr::value(Option::<uuid::Uuid>::None),
        )
        .col_expr(segment::Column::BackfillDone, Expr::value(0i64))
        .filter(segment::Column::TenantId.eq(tenant.as_uuid()))
        .filter(segment::Column::UpdatedAt.gte(since))
        .exec(conn)
        .await?;
    Ok(())
}

/// A tenant's definitions, loaded together.
pub struct Definitions {
    pub computed: Vec<ComputedTrait>,
    pub segments: Vec<SegmentRow>,
}

impl Definitions {
    pub fn is_empty(&self) -> bool {
        self.computed.is_empty() && self.segments.is_empty()
    }

    pub fn segment_defs(&self) -> Vec<SegmentDef> {
        self.segments.iter().map(SegmentRow::def).collect()
    }

    /// The definitions compiled for a generation's profiles (what it keeps complete).
    pub fn audiences_for(&self, generation: &crate::GenerationState) -> Audiences {
        let complete = generation.aggregations.complete.keys().cloned().collect();
        Audiences::new(&self.computed, &self.segment_defs(), &complete)
    }

    /// Every aggregation the definitions need, by key.
    pub fn needed(&self) -> BTreeMap<String, Aggregation> {
        Audiences::needed(&self.computed, &self.segment_defs())
    }
}

pub async fn definitions<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Definitions, StoreError> {
    Ok(Definitions {
        computed: computed_traits(conn, tenant)
            .await?
            .into_iter()
            .map(|r| r.definition)
            .collect(),
        segments: segments(conn, tenant).await?,
    })
}
