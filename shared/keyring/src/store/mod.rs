//! Rows of the key tables. Only this crate reads or writes them.

pub(crate) mod data_key;
pub(crate) mod retention_policy;
pub(crate) mod tenant_key;
