pub(crate) mod credential;
pub(crate) mod limit;
pub(crate) mod membership;
pub(crate) mod rejection;
pub(crate) mod source;
pub(crate) mod tenant;
pub(crate) mod user;
