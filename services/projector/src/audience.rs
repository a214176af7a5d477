//! Computed traits and segment membership, kept up to date by the projector: as each
//! batch is applied, as time passes (windows, relative dates), and over every profile
//! when a segment is new or changed (a backfill).
//!
//! Every entry and exit in the generation serving reads is appended to the log as its own
//! event, sealed under the data key of the profile's latest event (so erasing the person
//! makes the record unreadable too). A rebuilding generation computes memberships without
//! recording them: the log already holds what happened.

use std::collections::{BTreeMap, BTreeSet};

use cdp_domain::{DataKeyId, ProfileId, SegmentId, TenantId};
use cdp_keyring::Keyring;
use cdp_log::NewEvent;
use cdp_profile_store::{
    self as store, AudienceWrite, ComputedRow, Definitions, GenerationState, KeptAggregations,
    MembershipChange, Parts, Selection, Status,
};
use cdp_profiles::{Aggregations, Profile, WorkingSet};
use cdp_segments::{Audiences, SegmentDef};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::ProjectionError;
use crate::batch::{Settings, seal_system_event};

/// Profiles evaluated per transaction by the time sweep.
pub(crate) const PAGE: u64 = 1_000;

/// Profiles evaluated per transaction by a backfill: bigger, since a page is read before
/// its transaction begins and most profiles it reads write nothing.
pub(crate) const BACKFILL_PAGE: u64 = 5_000;

/// Event types of the membership records.
pub use cdp_segments::{SEGMENT_ENTERED, SEGMENT_EXITED};

/// A tenant's definitions compiled for one generation.
pub(crate) struct Plan {
    pub audiences: Audiences,
    /// Aggregations folded as events come (complete and still filling).
    pub folded: Aggregations,
    /// Segment ids by their printed form.
    ids: BTreeMap<String, SegmentId>,
    /// Segments whose membership this generation evaluates.
    evaluated: BTreeSet<SegmentId>,
    /// Whether entries and exits go into the log.
    pub record: bool,
    definitions: Definitions,
}

impl Plan {
    /// `None` when the tenant defines nothing: its batches cost nothing more.
    pub(crate) async fn load(
        db: &impl sea_orm::ConnectionTrait,
        tenant: TenantId,
        generation: &GenerationState,
    ) -> Result<Option<Plan>, ProjectionError> {
        let definitions = store::definitions(db, tenant).await?;
        if definitions.is_empty() && generation.aggregations == KeptAggregations::default() {
            return Ok(None);
        }
        Ok(Some(Plan::new(definitions, generation)))
    }

    fn new(definitions: Definitions, generation: &GenerationState) -> Plan {
        let active = generation.status == Status::Active;
        // A rebuild evaluates the segments already computed everywhere: the ones being
        // backfilled are computed (with their entries recorded) once it serves reads.
        let segments: Vec<SegmentDef> = definitions
            .segments
            .iter()
            .filter(|s| active || s.backfilled_version == s.version)
            .map(|s| s.def())
            .collect();
        let complete: BTreeSet<String> = generation.aggregations.complete.keys().cloned().collect();
        let audiences = Audiences::new(&definitions.computed, &segments, &complete);
        let ids: BTreeMap<String, SegmentId> = definitions
            .segments
            .iter()
            .map(|s| (s.id.to_string(), s.id))
            .collect();
        let evaluated = segments
            .iter()
            .filter(|s| !audiences.pending().contains(&s.id))
            .filter_map(|s| ids.get(&s.id).copied())
            .collect();
        Plan {
            audiences,
            folded: std::sync::Arc::new(generation.aggregations.folded()),
            ids,
            evaluated,
            record: active,
            definitions,
        }
    }

    /// What evaluating `profile` at `now` changes, given the memberships it had and its
    /// stored row (written again only if it changed).
    fn evaluate(
        &self,
        profile: &Profile,
        had: Option<&BTreeMap<SegmentId, DateTime<Utc>>>,
        stored: Option<&ComputedRow>,
        key_id: Option<DataKeyId>,
        now: DateTime<Utc>,
        write: &mut AudienceWrite,
    ) {
        let mut expired = profile.clone();
        expired.expire(&self.folded, now);
        let evaluation = self.audiences.evaluate(&expired, now);
        let now_in: BTreeSet<SegmentId> = evaluation
            .members
            .iter()
            .filter_map(|id| self.ids.get(id).copied())
            .collect();
        let empty = BTreeMap::new();
        let had = had.unwrap_or(&empty);
        for segment in &self.evaluated {
            let (was, is) = (had.contains_key(segment), now_in.contains(segment));
            if was != is {
                write.changes.push(MembershipChange {
                    segment: *segment,
                    profile: profile.id,
                    entered: is,
                    at: now,
                });
            }
        }
        let row = ComputedRow {
            profile: profile.id,
            aggregates: expired.aggregates,
            key_id,
            reevaluate_at: evaluation.changes_at,
        };
        // A profile with nothing to keep and nothing to wait for needs no row: most
        // profiles a backfill looks at.
        let needless = stored.is_none() && row.aggregates.is_empty() && row.reevaluate_at.is_none();
        // A newer key alone is no reason to write: the stored one seals as well (and the
        // newest goes in with the next change that is written anyway).
        let same = stored.is_some_and(|old| {
            old.aggregates == row.aggregates
                && old.reevaluate_at == row.reevaluate_at
                && (old.key_id.is_some() || row.key_id.is_none())
        });
        if !same && !needless {
            write.rows.push(row);
        }
    }
}

/// Makes the tenant's generations keep every aggregation its definitions need. A new one
/// is folded from now on in the generations that exist, and complete only in a
/// generation that replays the whole log with it: so a rebuild starts (or restarts).
/// Returns whether one did. The caller holds the tenant's lease.
pub(crate) async fn keep_needed(
    s: &Settings<'_>,
    tenant: TenantId,
    generations: &[GenerationState],
) -> Result<bool, ProjectionError> {
    let definitions = store::definitions(s.db, tenant).await?;
    let needed = definitions.needed();
    // Only a generation that replays the log from its start completes an aggregation
    // defined after it started: one is needed if the serving generation lacks some, and
    // no rebuild under way has them all.
    let mut serving_lacks = false;
    let mut building: Option<bool> = None;
    for g in generations.iter().filter(|g| g.status != Status::Retired) {
        let mut kept = g.aggregations.clone();
        kept.complete.retain(|k, _| needed.contains_key(k));
        kept.filling.retain(|k, _| needed.contains_key(k));
        for (key, agg) in &needed {
            if kept.complete.contains_key(key) || kept.filling.contains_key(key) {
                continue;
            }
            if g.last_seq == 0 {
                kept.complete.insert(key.clone(), agg.clone());
            } else {
                kept.filling.insert(key.clone(), agg.clone());
            }
        }
        if kept != g.aggregations {
            store::set_kept_aggregations(s.db, tenant, g.generation, &kept).await?;
        }
        match g.status {
            Status::Active => serving_lacks = !kept.filling.is_empty(),
            Status::Building => building = Some(kept.filling.is_empty()),
            Status::Retired => {}
        }
    }
    let restart = match building {
        Some(complete) => !complete,
        None => serving_lacks,
    };
    if !restart {
        return Ok(false);
    }
    let generation = store::start_rebuild(s.db, tenant).await?;
    let kept = KeptAggregations {
        complete: needed,
        filling: BTreeMap::new(),
    };
    store::set_kept_aggregations(s.db, tenant, generation, &kept).await?;
    tracing::info!(tenant_id = %tenant, "a definition needs the whole log: profiles are being rebuilt");
    Ok(true)
}

/// The changes of one applied batch: every profile it touched evaluated again, and the
/// profiles it merged away removed (leaving their segments).
pub(crate) async fn of_batch(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    plan: &Plan,
    set: &WorkingSet,
    keys: &BTreeMap<i64, DataKeyId>,
) -> Result<(AudienceWrite, Vec<NewEvent>), ProjectionError> {
    let now = Utc::now();
    let changed: Vec<&Profile> = set.changed().collect();
    let mut ids: Vec<ProfileId> = changed.iter().map(|p| p.id).collect();
    ids.extend(set.retired().keys());
    let g = generation.generation;
    let had = store::memberships(s.db, tenant, g, Selection::Ids(&ids)).await?;
    let stored = store::computed_rows(s.db, tenant, g, Selection::Ids(&ids)).await?;
    // The key of each profile's latest event in the batch.
    let mut latest: BTreeMap<ProfileId, DataKeyId> = BTreeMap::new();
    for entry in &set.timeline {
        if let Some(key) = keys.get(&entry.seq) {
            latest.insert(entry.profile, *key);
        }
    }
    let mut write = AudienceWrite::default();
    let stored_key = |id: &ProfileId| stored.get(id).and_then(|r| r.key_id);
    for p in &changed {
        let key = latest.get(&p.id).copied().or_else(|| stored_key(&p.id));
        if let Some(key) = key {
            latest.insert(p.id, key);
        }
        plan.evaluate(p, had.get(&p.id), stored.get(&p.id), key, now, &mut write);
    }
    for (loser, winner) in set.retired() {
        write.removed.push(*loser);
        for segment in had.get(loser).into_iter().flat_map(|m| m.keys()) {
            write.changes.push(MembershipChange {
                segment: *segment,
                profile: *loser,
                entered: false,
                at: now,
            });
        }
        // The loser's record is sealed like the winner's: under the merge's key.
        if let Some(key) = latest.get(winner).copied().or_else(|| stored_key(loser)) {
            latest.insert(*loser, key);
        }
    }
    let events = records(s.keyring, tenant, plan, &write.changes, &latest, "event").await?;
    Ok((write, events))
}

/// Membership records for the log (none for a rebuilding generation), each sealed under
/// the key `keys` gives its profile.
async fn records(
    keyring: &Keyring,
    tenant: TenantId,
    plan: &Plan,
    changes: &[MembershipChange],
    keys: &BTreeMap<ProfileId, DataKeyId>,
    reason: &str,
) -> Result<Vec<NewEvent>, ProjectionError> {
    if !plan.record {
        return Ok(Vec::new());
    }
    // One query for the keys not cached rather than one per record: every person has a
    // key of their own, and a backfill seals records for thousands at a time.
    let needed: Vec<DataKeyId> = changes
        .iter()
        .filter_map(|c| keys.get(&c.profile).copied())
        .collect();
    keyring
        .preload(tenant, &needed)
        .await
        .map_err(ProjectionError::Keyring)?;
    let mut events = Vec::new();
    for change in changes {
        let key = keys.get(&change.profile);
        // No key: the person's events are all shredded; nothing about them is recorded.
        let Some(key) = key else {
            tracing::warn!(tenant_id = %tenant, segment_id = %change.segment, reason, "a membership change has no data key to seal its record under: not recorded");
            continue;
        };
        let event_type = if change.entered {
            SEGMENT_ENTERED
        } else {
            SEGMENT_EXITED
        };
        let body = json!({
            "type": event_type,
            "segment": change.segment,
            "profile": change.profile,
            "reason": reason,
        });
        let message_id = format!(
            "{}segment:{}",
            cdp_domain::SYSTEM_MESSAGE_ID_PREFIX,
            uuid::Uuid::now_v7().simple()
        );
        if let Some(event) = seal_system_event(
            keyring, tenant, *key, event_type, message_id, change.at, &body,
        )
        .await?
        {
            events.push(event);
        }
    }
    Ok(events)
}

/// A page of profiles evaluated again, not yet committed.
struct Evaluated {
    write: AudienceWrite,
    /// The memberships they had in the generation.
    had: BTreeMap<ProfileId, BTreeMap<SegmentId, DateTime<Utc>>>,
    stored: BTreeMap<ProfileId, ComputedRow>,
}

/// Evaluates the selected profiles of the generation again at `now`.
async fn evaluate_page(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    plan: &Plan,
    which: Selection<'_>,
    now: DateTime<Utc>,
) -> Result<Evaluated, ProjectionError> {
    let g = generation.generation;
    // Only what the segments read; the aggregation states come with the stored rows.
    let reads = plan.audiences.reads();
    let parts = Parts {
        identities: false,
        traits: reads.traits,
        counts: reads.counts,
        groups: false,
        consent: reads.consent,
        aggregates: false,
    };
    let mut profiles = store::profile_parts(s.db, tenant, g, which, parts).await?;
    let had = store::memberships(s.db, tenant, g, which).await?;
    let stored = store::computed_rows(s.db, tenant, g, which).await?;
    let mut write = AudienceWrite::default();
    for p in &mut profiles {
        if let Some(row) = stored.get(&p.id) {
            p.aggregates = row.aggregates.clone();
        }
        let key = stored.get(&p.id).and_then(|r| r.key_id);
        plan.evaluate(p, had.get(&p.id), stored.get(&p.id), key, now, &mut write);
    }
    // Ids asked for that are no longer live profiles (merged away since) are not due any
    // more. (A range holds the live profiles only.)
    let live: BTreeSet<ProfileId> = profiles.iter().map(|p| p.id).collect();
    let asked = match which {
        Selection::Ids(ids) => ids,
        Selection::Range { .. } => &[],
    };
    for id in asked.iter().filter(|id| !live.contains(id)) {
        if let Some(row) = stored.get(id) {
            write.rows.push(ComputedRow {
                reevaluate_at: None,
                ..row.clone()
            });
        }
    }
    Ok(Evaluated { write, had, stored })
}

/// The keys to seal the records of these profiles under: their stored row's, or else
/// (profiles projected before anything was defined have no row) their latest event's,
/// looked up only for them and for the rows being written without one (most profiles a
/// backfill looks at have neither). Rows written get the key too.
async fn seal_keys(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: i64,
    page: &mut Evaluated,
    recorded: impl Iterator<Item = ProfileId>,
) -> Result<BTreeMap<ProfileId, DataKeyId>, ProjectionError> {
    let mut keys: BTreeMap<ProfileId, DataKeyId> = page
        .stored
        .iter()
        .filter_map(|(id, r)| r.key_id.map(|k| (*id, k)))
        .collect();
    let keyless: BTreeSet<ProfileId> = recorded
        .chain(page.write.rows.iter().map(|r| r.profile))
        .filter(|id| !keys.contains_key(id))
        .collect();
    if !keyless.is_empty() {
        let keyless: Vec<ProfileId> = keyless.into_iter().collect();
        keys.extend(store::latest_keys(s.db, tenant, generation, &keyless).await?);
    }
    for row in page.write.rows.iter_mut().filter(|r| r.key_id.is_none()) {
        row.key_id = keys.get(&row.profile).copied();
    }
    Ok(keys)
}

/// Commits a page's changes and records; `reconciled` moves the comparison with the
/// replaced generation on in the same transaction (see [`reconcile`]).
async fn commit_page(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: i64,
    plan: &Plan,
    write: &AudienceWrite,
    events: Vec<NewEvent>,
    reconciled: Option<Option<ProfileId>>,
) -> Result<(), ProjectionError> {
    let txn = cdp_storage::begin_write(s.db).await?;
    if !store::hold_lease(&txn, tenant, s.holder, s.lease_ttl).await? {
        return Err(ProjectionError::LeaseLost);
    }
    store::write_audience(&txn, tenant, generation, write, plan.record).await?;
    if !events.is_empty() {
        cdp_log::append(&txn, tenant, events).await?;
    }
    if let Some(cursor) = reconciled {
        store::record_reconcile(&txn, tenant, generation, cursor).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Evaluates these profiles again at `now` and commits what changed, with its records.
/// Returns how many memberships changed.
pub(crate) async fn reevaluate(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    plan: &Plan,
    which: Selection<'_>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<usize, ProjectionError> {
    let g = generation.generation;
    let mut page = evaluate_page(s, tenant, generation, plan, which, now).await?;
    let changed: Vec<ProfileId> = page.write.changes.iter().map(|c| c.profile).collect();
    let keys = seal_keys(s, tenant, g, &mut page, changed.into_iter()).await?;
    let events = records(s.keyring, tenant, plan, &page.write.changes, &keys, reason).await?;
    commit_page(s, tenant, g, plan, &page.write, events, None).await?;
    Ok(page.write.changes.len())
}

/// One page of the comparison a rebuild that took over owes the log: the next profiles
/// that are members of a segment in the replaced generation or in this one are evaluated
/// again, and where what they are members of now differs from what the replaced
/// generation recorded, an entry or an exit is recorded (a changed identity rule merges
/// or splits people; a segment changed during the rebuild). Membership changes made by
/// batches since the switch are recorded as they happen, so one may be recorded twice.
async fn reconcile(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    plan: Option<&Plan>,
    replaced: i64,
    now: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    let g = generation.generation;
    let (ids, last) = store::member_page(
        s.db,
        tenant,
        [replaced, g],
        generation.reconcile_cursor,
        PAGE,
    )
    .await?;
    let cursor = if last { None } else { ids.last().copied() };
    // Nothing defined any more: nothing to record either.
    let Some(plan) = plan.filter(|_| !ids.is_empty()) else {
        store::record_reconcile(s.db, tenant, g, None).await?;
        return Ok(());
    };
    let recorded = store::memberships(s.db, tenant, replaced, Selection::Ids(&ids)).await?;
    let mut page = evaluate_page(s, tenant, generation, plan, Selection::Ids(&ids), now).await?;
    let mut now_in: BTreeMap<ProfileId, BTreeSet<SegmentId>> = page
        .had
        .iter()
        .map(|(id, m)| (*id, m.keys().copied().collect()))
        .collect();
    for change in &page.write.changes {
        let segments = now_in.entry(change.profile).or_default();
        if change.entered {
            segments.insert(change.segment);
        } else {
            segments.remove(&change.segment);
        }
    }
    let mut told = Vec::new();
    for id in &ids {
        for segment in &plan.evaluated {
            let was = recorded.get(id).is_some_and(|m| m.contains_key(segment));
            let is = now_in.get(id).is_some_and(|m| m.contains(segment));
            if was != is {
                told.push(MembershipChange {
                    segment: *segment,
                    profile: *id,
                    entered: is,
                    at: now,
                });
            }
        }
    }
    let mut keys = seal_keys(s, tenant, g, &mut page, told.iter().map(|c| c.profile)).await?;
    // A person merged away (or split off under another id) by the rebuild: their exits are
    // sealed under the key of their events in the replaced generation.
    let gone: Vec<ProfileId> = told
        .iter()
        .map(|c| c.profile)
        .filter(|id| !keys.contains_key(id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !gone.is_empty() {
        keys.extend(store::latest_keys(s.db, tenant, replaced, &gone).await?);
    }
    let events = records(s.keyring, tenant, plan, &told, &keys, "rebuild").await?;
    commit_page(s, tenant, g, plan, &page.write, events, Some(cursor)).await?;
    if cursor.is_none() {
        tracing::info!(tenant_id = %tenant, generation = g, "rebuilt memberships compared with the replaced ones");
    }
    Ok(())
}

/// One step of the work that time and new definitions bring, for the generation serving
/// reads: a page of profiles due to be evaluated again, then a page of a backfill.
/// Whether there was anything to do.
pub(crate) async fn step(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    now: DateTime<Utc>,
) -> Result<bool, ProjectionError> {
    let plan = Plan::load(s.db, tenant, generation).await?;
    if let Some(replaced) = generation.reconcile_from {
        reconcile(s, tenant, generation, plan.as_ref(), replaced, now).await?;
        return Ok(true);
    }
    let Some(plan) = plan else {
        return Ok(false);
    };
    let g = generation.generation;
    let due = store::due_profiles(s.db, tenant, g, now, PAGE).await?;
    if !due.is_empty() {
        let which = Selection::Ids(&due);
        let changed = reevaluate(s, tenant, generation, &plan, which, now, "time").await?;
        tracing::debug!(tenant_id = %tenant, profiles = due.len(), changed, "evaluated profiles again as time passed");
        return Ok(true);
    }
    let backfill = plan
        .definitions
        .segments
        .iter()
        .find(|seg| seg.backfilled_version < seg.version && plan.evaluated.contains(&seg.id));
    let Some(segment) = backfill else {
        return Ok(false);
    };
    let page = store::profile_page(s.db, tenant, g, segment.backfill_cursor, BACKFILL_PAGE).await?;
    if let Some(&through) = page.last() {
        let after = segment.backfill_cursor;
        let which = Selection::Range { after, through };
        reevaluate(s, tenant, generation, &plan, which, now, "backfill").await?;
    }
    let finished = (page.len() as u64) < BACKFILL_PAGE;
    store::record_backfill(
        s.db,
        tenant,
        segment.id,
        segment.version,
        page.last().copied().or(segment.backfill_cursor),
        segment.backfill_done + page.len() as i64,
        finished,
    )
    .await?;
    if finished {
        tracing::info!(tenant_id = %tenant, segment_id = %segment.id, "a segment's membership is computed over every profile");
    }
    Ok(true)
}
