use thiserror::Error;

#[derive(Debug, Error)]
pub enum KeyringError {
    #[error(
        "sealed data failed authentication: it was altered, or belongs to another tenant, event or key"
    )]
    Tampered,
    #[error("sealed data has an unknown format version {0}")]
    UnknownFormat(u8),
    #[error("sealed data is too short to hold a nonce and a tag")]
    Truncated,
    #[error("key material must be 32 bytes, got {0}")]
    BadKeyLength(usize),
    #[error("the master key is not valid base64 of 32 bytes")]
    BadMasterKeyEncoding,
    #[error(
        "tenant key {key_id} is wrapped by master key {wrapped_by}, but the configured master key is {configured}"
    )]
    WrongMasterKey {
        key_id: String,
        wrapped_by: String,
        configured: String,
    },
    #[error("no key is known for tenant {0}")]
    UnknownTenant(String),
    #[error("tenant {0} has been erased: its keys are destroyed")]
    TenantShredded(String),
    #[error("data key {0} does not exist for this tenant")]
    UnknownDataKey(String),
    #[error("another key was stored first for a subject this new key was made for")]
    SubjectTaken,
    #[error("found {found} data keys to destroy but destroyed {destroyed}")]
    ShredIncomplete { found: u64, destroyed: u64 },
    #[error("a retention period is 1 to {0} days (0 keeps everything)")]
    BadRetention(u32),
    #[error("the operating system's random generator failed")]
    Randomness,
    #[error("could not read or write the master key file {path}")]
    MasterKeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("key store query failed")]
    Db(#[from] sea_orm::DbErr),
}
