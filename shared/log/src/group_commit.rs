//! Group commit: many concurrent callers share one transaction, so throughput does not fall
//! to one commit (one fsync) per request, while every caller still hears back only after
//! its events are committed.
//!
//! Memory stays bounded: callers hold a permit per queued event, and when the queue is full
//! `append` refuses at once with [`CommitError::Overloaded`] instead of waiting.

use std::collections::BTreeMap;
use std::sync::Arc;

use cdp_domain::TenantId;
use cdp_keyring::{KeyringError, NewKeys};
use cdp_storage::{DatabaseConnection, begin_write};
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot};
use tracing::Instrument;

use crate::append::validate;
use crate::{Appended, LogError, NewEvent, append};

#[derive(Clone, Debug)]
pub struct GroupCommitOptions {
    /// Events that may wait for a commit before new ones are refused.
    pub max_queued_events: usize,
    /// Events gathered into one transaction at most.
    pub max_batch_events: usize,
    /// Transactions in flight at once. SQLite has one writer, so one; PostgreSQL profits
    /// from a few.
    pub committers: usize,
}

impl Default for GroupCommitOptions {
    fn default() -> Self {
        Self {
            max_queued_events: 100_000,
            max_batch_events: 10_000,
            committers: 1,
        }
    }
}

#[derive(Debug, Error, Clone)]
pub enum CommitError {
    #[error("too many events are waiting to be committed")]
    Overloaded,
    #[error(transparent)]
    Invalid(Arc<LogError>),
    #[error("the commit failed")]
    Failed(#[source] Arc<LogError>),
    #[error("the committer has stopped")]
    Stopped,
}

struct Job {
    tenant: TenantId,
    events: Vec<NewEvent>,
    /// Keys that sealed some of the events and are not stored yet: stored first, in the
    /// same transaction.
    new_keys: NewKeys,
    reply: oneshot::Sender<Result<Vec<Appended>, CommitError>>,
    /// The request's span, for the commit's trace.
    span: tracing::Span,
    _permit: OwnedSemaphorePermit,
}

/// Queue space taken for a number of events, released once they are committed or refused.
pub struct Reservation {
    committer: GroupCommitter,
    count: usize,
    permit: OwnedSemaphorePermit,
}

impl Reservation {
    /// Appends the events (at most as many as reserved) and waits for their commit.
    pub async fn append(
        self,
        tenant: TenantId,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, CommitError> {
        self.append_with_keys(tenant, events, NewKeys::default())
            .await
    }

    /// Appends the events together with the new data keys that sealed them: the keys are
    /// stored in the same transaction, so an event is never stored without its key, and a
    /// key costs no commit of its own.
    pub async fn append_with_keys(
        self,
        tenant: TenantId,
        events: Vec<NewEvent>,
        new_keys: NewKeys,
    ) -> Result<Vec<Appended>, CommitError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if events.len() > self.count {
            return Err(CommitError::Overloaded);
        }
        // An invalid job would fail the whole group it joined, so it never joins one.
        validate(&events).map_err(|e| CommitError::Invalid(Arc::new(e)))?;
        let (reply, answer) = oneshot::channel();
        self.committer
            .queue_of(tenant)
            .send(Job {
                tenant,
                events,
                new_keys,
                reply,
                span: tracing::Span::current(),
                _permit: self.permit,
            })
            .map_err(|_| CommitError::Stopped)?;
        answer.await.map_err(|_| CommitError::Stopped)?
    }
}

#[derive(Clone)]
pub struct GroupCommitter {
    /// One queue per committer; a tenant's jobs always go to the same one, so they batch
    /// together instead of waiting for each other on the tenant's head row.
    queues: Arc<Vec<mpsc::UnboundedSender<Job>>>,
    permits: Arc<Semaphore>,
    max_queued_events: usize,
    committed: broadcast::Sender<TenantId>,
}

impl GroupCommitter {
    /// Starts the committer tasks on the current runtime.
    ///
    /// Give it a connection pool of its own, opened on the runtime it runs on: the
    /// committer holds a tenant's head row while it talks to the database, and its
    /// connections should not depend on another runtime's threads being free.
    pub fn start(db: DatabaseConnection, options: GroupCommitOptions) -> Self {
        let (committed, _) = broadcast::channel(1024);
        let mut queues = Vec::new();
        for _ in 0..options.committers.max(1) {
            let (sender, receiver) = mpsc::unbounded_channel();
            queues.push(sender);
            tokio::spawn(run(
                db.clone(),
                receiver,
                options.max_batch_events.max(1),
                committed.clone(),
            ));
        }
        Self {
            queues: Arc::new(queues),
            permits: Arc::new(Semaphore::new(options.max_queued_events)),
            max_queued_events: options.max_queued_events,
            committed,
        }
    }

    /// Appends one tenant's events and returns once they are committed (or refused).
    pub async fn append(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Appended>, CommitError> {
        self.reserve(events.len())?.append(tenant, events).await
    }

    /// Takes queue space for `count` events, or refuses at once when the queue is full.
    /// Reserving before preparing events means a refused request costs nothing.
    pub fn reserve(&self, count: usize) -> Result<Reservation, CommitError> {
        let permits = u32::try_from(count.max(1)).map_err(|_| CommitError::Overloaded)?;
        let permit = self
            .permits
            .clone()
            .try_acquire_many_owned(permits)
            .map_err(|_| CommitError::Overloaded)?;
        Ok(Reservation {
            committer: self.clone(),
            count,
            permit,
        })
    }

    fn queue_of(&self, tenant: TenantId) -> &mpsc::UnboundedSender<Job> {
        let slot = tenant.as_uuid().as_u128() % self.queues.len() as u128;
        &self.queues[slot as usize]
    }

    /// Events waiting for a commit right now.
    pub fn queued_events(&self) -> usize {
        self.max_queued_events - self.permits.available_permits()
    }

    /// Tenants whose logs just grew, sent after each commit.
    pub fn subscribe(&self) -> broadcast::Receiver<TenantId> {
        self.committed.subscribe()
    }
}

async fn run(
    db: DatabaseConnection,
    mut receiver: mpsc::UnboundedReceiver<Job>,
    max_batch_events: usize,
    committed: broadcast::Sender<TenantId>,
) {
    while let Some(first) = receiver.recv().await {
        let mut size = first.events.len();
        let mut jobs = vec![first];
        while size < max_batch_events {
            match receiver.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        commit(&db, jobs, &committed).await;
    }
}

/// Commits a group; when the group fails, commits its jobs one by one, so that a job the
/// database refuses fails alone instead of taking its neighbours with it.
async fn commit(db: &DatabaseConnection, jobs: Vec<Job>, committed: &broadcast::Sender<TenantId>) {
    let Some((jobs, error)) = try_group(db, jobs, committed).await else {
        return;
    };
    if jobs.len() == 1 {
        return fail(jobs, error);
    }
    tracing::warn!(error = %error, jobs = jobs.len(), "group commit failed; committing its jobs one by one");
    for job in jobs {
        if let Some((job, error)) = try_group(db, vec![job], committed).await {
            fail(job, error);
        }
    }
}

fn fail(jobs: Vec<Job>, error: LogError) {
    tracing::warn!(error = %error, "commit failed");
    let error = Arc::new(error);
    for job in jobs {
        let _ = job.reply.send(Err(CommitError::Failed(error.clone())));
    }
}

/// Commits a group; on failure hands the jobs back, unanswered, with the error.
async fn try_group(
    db: &DatabaseConnection,
    jobs: Vec<Job>,
    committed: &broadcast::Sender<TenantId>,
) -> Option<(Vec<Job>, LogError)> {
    let by_tenant = by_tenant(&jobs);
    match commit_groups(db, &jobs, &by_tenant).await {
        Ok(outcomes) => {
            answer(jobs, outcomes, &by_tenant, committed);
            None
        }
        Err(e) => Some((jobs, e)),
    }
}

fn by_tenant(jobs: &[Job]) -> BTreeMap<TenantId, Vec<usize>> {
    // Tenants in a fixed order, so concurrent transactions lock their heads in the same
    // order and cannot deadlock.
    let mut by_tenant: BTreeMap<TenantId, Vec<usize>> = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        by_tenant.entry(job.tenant).or_default().push(i);
    }
    by_tenant
}

fn answer(
    jobs: Vec<Job>,
    outcomes: Vec<Vec<Appended>>,
    by_tenant: &BTreeMap<TenantId, Vec<usize>>,
    committed: &broadcast::Sender<TenantId>,
) {
    for tenant in by_tenant.keys() {
        let _ = committed.send(*tenant);
    }
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        let _ = job.reply.send(Ok(outcome));
    }
}

async fn commit_groups(
    db: &DatabaseConnection,
    jobs: &[Job],
    by_tenant: &BTreeMap<TenantId, Vec<usize>>,
) -> Result<Vec<Vec<Appended>>, LogError> {
    #[cfg(feature = "bench")]
    if crate::bench::noop_store() {
        return Ok(jobs
            .iter()
            .map(|job| crate::bench::pretend_appended(job.events.len()))
            .collect());
    }
    // The transaction belongs to the first request's trace, and is linked from the others'.
    let span = tracing::info_span!(
        parent: &jobs[0].span,
        "db.group_commit",
        requests = jobs.len(),
        tenants = by_tenant.len(),
        events = jobs.iter().map(|j| j.events.len()).sum::<usize>(),
    );
    for job in &jobs[1..] {
        span.follows_from(&job.span);
    }
    write_groups(db, jobs, by_tenant).instrument(span).await
}

async fn write_groups(
    db: &DatabaseConnection,
    jobs: &[Job],
    by_tenant: &BTreeMap<TenantId, Vec<usize>>,
) -> Result<Vec<Vec<Appended>>, LogError> {
    let txn = begin_write(db).await?;
    let mut outcomes: Vec<Vec<Appended>> = vec![Vec::new(); jobs.len()];
    for (tenant, members) in by_tenant {
        let keys: Vec<&NewKeys> = members.iter().map(|&i| &jobs[i].new_keys).collect();
        if keys.iter().any(|k| !k.is_empty()) {
            NewKeys::insert(&txn, &keys).await.map_err(|e| match e {
                KeyringError::SubjectTaken => LogError::NewKeyTaken,
                KeyringError::Db(e) => LogError::Db(e),
                other => LogError::Keys(other),
            })?;
        }
        let events: Vec<NewEvent> = members
            .iter()
            .flat_map(|&i| jobs[i].events.iter().cloned())
            .collect();
        let mut appended = append(&txn, *tenant, events).await?.into_iter();
        for &i in members {
            outcomes[i] = appended.by_ref().take(jobs[i].events.len()).collect();
        }
    }
    txn.commit().await?;
    Ok(outcomes)
}
