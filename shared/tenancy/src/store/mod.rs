pub(crate) mod credential;
pub(crate) mod limit;
pub(crate) mod source;
pub(crate) mod tenant;
