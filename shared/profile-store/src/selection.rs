//! Which profiles a read covers: a list of ids, or a range of them.

use cdp_domain::ProfileId;
use cdp_storage::one_of;
use sea_orm::sea_query::{ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend};
use uuid::Uuid;

/// Values per query when reading by many ids (a power of two: lists are padded to one).
const CHUNK: usize = 512;

#[derive(Clone, Copy, Debug)]
pub enum Selection<'a> {
    /// These ids, each looked up in the index.
    Ids(&'a [ProfileId]),
    /// Every profile after `after` up to and including `through`: a backfill's page,
    /// read in index order like a scan rather than by one lookup per profile.
    Range {
        after: Option<ProfileId>,
        through: ProfileId,
    },
}

impl Selection<'_> {
    /// The conditions on `column` that select these profiles, one per query to run.
    pub(crate) fn filters<C: ColumnTrait>(&self, backend: DbBackend, column: C) -> Vec<SimpleExpr> {
        match self {
            Selection::Ids(ids) => {
                let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
                ids.chunks(CHUNK)
                    .map(|chunk| one_of(backend, column, chunk.to_vec()))
                    .collect()
            }
            Selection::Range { after, through } => {
                let upto = column.lte(through.as_uuid());
                vec![match after {
                    Some(after) => upto.and(column.gt(after.as_uuid())),
                    None => upto,
                }]
            }
        }
    }
}
