//! Import jobs: progress and the per-line error report, kept in `import_jobs`.

use cdp_domain::{ImportId, SourceId, TenantId};
use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

/// At most this many line errors are kept; `lines_failed` still counts them all.
const MAX_ERRORS: usize = 1000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    pub line: i64,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImportJob {
    pub id: ImportId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub source_id: Option<SourceId>,
    pub format: String,
    /// `running`, `completed` or `failed`.
    pub status: &'static str,
    pub lines_read: i64,
    pub events_stored: i64,
    pub events_duplicate: i64,
    pub lines_failed: i64,
    pub errors: Vec<LineError>,
    /// Why a failed import stopped.
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl ImportJob {
    pub(crate) fn new(tenant_id: TenantId, source_id: Option<SourceId>, format: &str) -> Self {
        let now = Utc::now();
        ImportJob {
            id: ImportId::new(),
            tenant_id,
            source_id,
            format: format.to_owned(),
            status: RUNNING,
            lines_read: 0,
            events_stored: 0,
            events_duplicate: 0,
            lines_failed: 0,
            errors: Vec::new(),
            failure: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    pub(crate) fn record_error(&mut self, line: i64, message: String) {
        self.lines_failed += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(LineError { line, message });
        }
    }

    pub(crate) fn finish(&mut self, failure: Option<String>) {
        self.status = if failure.is_some() { FAILED } else { COMPLETED };
        self.failure = failure;
        self.finished_at = Some(Utc::now());
    }
}

const RUNNING: &str = "running";
const COMPLETED: &str = "completed";
const FAILED: &str = "failed";

fn status(text: &str) -> &'static str {
    match text {
        COMPLETED => COMPLETED,
        FAILED => FAILED,
        _ => RUNNING,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub source_id: Option<Uuid>,
    pub format: String,
    pub status: String,
    pub lines_read: i64,
    pub events_stored: i64,
    pub events_duplicate: i64,
    pub lines_failed: i64,
    pub errors: String,
    pub failure: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub finished_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

fn row(job: &ImportJob) -> ActiveModel {
    ActiveModel {
        tenant_id: Set(job.tenant_id.as_uuid()),
        id: Set(job.id.as_uuid()),
        source_id: Set(job.source_id.map(|s| s.as_uuid())),
        format: Set(job.format.clone()),
        status: Set(job.status.to_owned()),
        lines_read: Set(job.lines_read),
        events_stored: Set(job.events_stored),
        events_duplicate: Set(job.events_duplicate),
        lines_failed: Set(job.lines_failed),
        errors: Set(serde_json::to_string(&job.errors).expect("line errors serialize")),
        failure: Set(job.failure.clone()),
        created_at: Set(job.created_at),
        updated_at: Set(Utc::now()),
        finished_at: Set(job.finished_at),
    }
}

/// A running job that has not reported progress for this long was left behind by a process
/// that ended.
const STALLED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

impl From<Model> for ImportJob {
    fn from(m: Model) -> Self {
        let stalled = m.status == RUNNING && Utc::now() - m.updated_at > STALLED_AFTER;
        let (status_text, failure) = if stalled {
            (
                FAILED,
                Some("stopped reporting progress: the process running it ended".to_owned()),
            )
        } else {
            (status(&m.status), m.failure)
        };
        ImportJob {
            id: ImportId::from_uuid(m.id),
            tenant_id: TenantId::from_uuid(m.tenant_id),
            source_id: m.source_id.map(SourceId::from_uuid),
            format: m.format,
            status: status_text,
            lines_read: m.lines_read,
            events_stored: m.events_stored,
            events_duplicate: m.events_duplicate,
            lines_failed: m.lines_failed,
            errors: serde_json::from_str(&m.errors).unwrap_or_default(),
            failure,
            created_at: m.created_at,
            updated_at: m.updated_at,
            finished_at: m.finished_at,
        }
    }
}

pub(crate) async fn insert<C: ConnectionTrait>(conn: &C, job: &ImportJob) -> Result<(), DbErr> {
    Entity::insert(row(job))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub(crate) async fn update<C: ConnectionTrait>(conn: &C, job: &ImportJob) -> Result<(), DbErr> {
    Entity::update(row(job)).exec(conn).await?;
    Ok(())
}

/// The tenant's latest imports, newest first.
pub(crate) async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<ImportJob>, DbErr> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .order_by_desc(Column::CreatedAt)
        .limit(100)
        .all(conn)
        .await?
        .into_iter()
        .map(ImportJob::from)
        .collect())
}

pub(crate) async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: ImportId,
) -> Result<Option<ImportJob>, DbErr> {
    Ok(Entity::find_by_id((tenant.as_uuid(), id.as_uuid()))
        .one(conn)
        .await?
        .map(ImportJob::from))
}

/// Marks the job failed when dropped before `disarm`.
pub(crate) struct InterruptGuard {
    db: Option<sea_orm::DatabaseConnection>,
    tenant: TenantId,
    id: ImportId,
}

impl InterruptGuard {
    pub(crate) fn new(db: sea_orm::DatabaseConnection, tenant: TenantId, id: ImportId) -> Self {
        Self {
            db: Some(db),
            tenant,
            id,
        }
    }

    pub(crate) fn disarm(mut self) {
        self.db = None;
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (tenant, id) = (self.tenant, self.id);
        runtime.spawn(async move {
            let result = Entity::update_many()
                .col_expr(Column::Status, sea_orm::sea_query::Expr::value(FAILED))
                .col_expr(
                    Column::Failure,
                    sea_orm::sea_query::Expr::value(Some("interrupted before it finished".to_owned())),
                )
                .col_expr(Column::FinishedAt, sea_orm::sea_query::Expr::value(Some(Utc::now())))
                .filter(Column::TenantId.eq(tenant.as_uuid()))
                .filter(Column::Id.eq(id.as_uuid()))
                .filter(Column::Status.eq(RUNNING))
                .exec(&db)
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, import_id = %id, "could not mark an interrupted import as failed");
            }
        });
    }
}
