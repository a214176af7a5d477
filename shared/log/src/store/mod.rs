pub(crate) mod event_log;
pub(crate) mod head;
pub(crate) mod volume;
