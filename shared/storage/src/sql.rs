//! Statement shapes that stay the same whatever the number of values, so that each backend
//! prepares them once. A list written as `IN ($2, $3, …)` or a multi-row `INSERT` is a new
//! statement for every length: on PostgreSQL its generic plan can ignore the index the
//! list should use; on SQLite every new length is parsed and compiled again, and each
//! compiled length stays in the connection's statement cache, taking memory.
//!
//! So: on PostgreSQL one array parameter (`= ANY($2)`, `UNNEST`); on SQLite a few lengths
//! only, powers of two, which the statement cache keeps compiled.

use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend, Value};

/// `column = ANY($array)` on PostgreSQL; on SQLite `column IN (values)`, the list padded
/// (by repeating its last value, which changes nothing) to the next power of two.
pub fn one_of<C, V>(backend: DbBackend, column: C, mut values: Vec<V>) -> SimpleExpr
where
    C: ColumnTrait,
    V: Into<Value> + Clone,
    Value: From<Vec<V>>,
{
    match backend {
        DbBackend::Postgres => ExprTrait::eq(
            Expr::col(column.as_column_ref()),
            PgFunc::any(Expr::val(Value::from(values))),
        ),
        _ => {
            if let Some(last) = values.last().cloned() {
                values.resize(values.len().next_power_of_two(), last);
            }
            column.is_in(values)
        }
    }
}

/// Splits rows into chunks whose lengths are powers of two, at most `max` (itself rounded
/// down to one): as many chunks of `max` as fit, then one chunk per bit of what remains.
/// Multi-row statements built from them come in at most log2(max) + 1 shapes.
pub fn power_of_two_chunks<T>(rows: Vec<T>, max: usize) -> Vec<Vec<T>> {
    let max = if max == 0 { 1 } else { 1 << max.ilog2() };
    let mut chunks = Vec::new();
    let mut rows = rows.into_iter();
    let mut left = rows.len();
    while left > 0 {
        let size = if left >= max { max } else { 1 << left.ilog2() };
        chunks.push(rows.by_ref().take(size).collect());
        left -= size;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn chunks_keep_every_row_in_order_in_few_shapes(len in 0usize..5000, max in 0usize..1000) {
            let rows: Vec<usize> = (0..len).collect();
            let chunks = power_of_two_chunks(rows.clone(), max);
            let lengths: std::collections::BTreeSet<usize> = chunks.iter().map(Vec::len).collect();
            prop_assert_eq!(chunks.concat(), rows);
            for length in &lengths {
                prop_assert!(length.is_power_of_two());
                prop_assert!(*length <= max.max(1));
            }
            prop_assert!(lengths.len() <= max.max(1).ilog2() as usize + 1);
        }
    }
}
