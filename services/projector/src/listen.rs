//! Wake-ups across processes on PostgreSQL: the group committer NOTIFYs each tenant it
//! appended for, in the same transaction, so the notice arrives exactly when the events
//! are visible.

use std::sync::Arc;
use std::time::Duration;

use cdp_domain::TenantId;
use sea_orm::sqlx::postgres::PgListener;

use crate::queue::Queue;

pub(crate) fn spawn(database_url: String, queue: Arc<Queue>) {
    tokio::spawn(async move {
        loop {
            match listen(&database_url, &queue).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the PostgreSQL notification channel; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

async fn listen(database_url: &str, queue: &Queue) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(cdp_log::APPENDED_CHANNEL).await?;
    loop {
        let notification = listener.recv().await?;
        if let Ok(uuid) = uuid::Uuid::parse_str(notification.payload()) {
            queue.wake(TenantId::from_uuid(uuid));
        }
    }
}
