//! Statement shapes that stay the same whatever the number of values, so that PostgreSQL
//! prepares and plans them once. A list written as `IN ($2, $3, …)` is a new statement for
//! every length, and its generic plan can ignore the index the list should use; `= ANY($2)`
//! with one array parameter is one statement whose plan uses the index.

use sea_orm::sea_query::extension::postgres::PgFunc;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend, Value};

/// `column IN (values)` on SQLite, `column = ANY($array)` on PostgreSQL.
pub fn one_of<C, V>(backend: DbBackend, column: C, values: Vec<V>) -> SimpleExpr
where
    C: ColumnTrait,
    V: Into<Value>,
    Value: From<Vec<V>>,
{
    match backend {
        DbBackend::Postgres => ExprTrait::eq(
            Expr::col(column.as_column_ref()),
            PgFunc::any(Expr::val(Value::from(values))),
        ),
        _ => column.is_in(values),
    }
}
