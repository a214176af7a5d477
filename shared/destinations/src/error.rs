use std::net::IpAddr;

/// What can go wrong with a destination's definition, its deliveries or their storage.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("invalid signing secret: {0}")]
    InvalidSecret(&'static str),
    #[error("malformed webhook-signature header")]
    MalformedSignature,
    #[error("the webhook-timestamp is too far from now")]
    OutsideTolerance,
    #[error("no signature in webhook-signature matches")]
    NoMatchingSignature,
    #[error("invalid URL: {0}")]
    InvalidUrl(&'static str),
    #[error(
        "{0} is not a public address; deliveries to it are refused unless \
         destinations_allowed_networks allows it"
    )]
    ForbiddenAddress(IpAddr),
    #[error("{0:?} is not a network (`10.0.0.0/8`) or an address")]
    InvalidNetwork(String),
    #[error("stored destination is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}
