pub(crate) mod credential;
pub(crate) mod source;
pub(crate) mod tenant;
