/// What can go wrong with a destination's definition or a delivery's signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DestinationError {
    #[error("invalid signing secret: {0}")]
    InvalidSecret(&'static str),
    #[error("malformed webhook-signature header")]
    MalformedSignature,
    #[error("the webhook-timestamp is too far from now")]
    OutsideTolerance,
    #[error("no signature in webhook-signature matches")]
    NoMatchingSignature,
}
