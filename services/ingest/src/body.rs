//! Reading a request body within the size limits, gzip included, with a guard against
//! decompression bombs: decompression stops as soon as the output passes the limit.

use std::io::Read;

use actix_web::HttpRequest;
use actix_web::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use actix_web::web::Payload;
use flate2::read::MultiGzDecoder;
use futures::StreamExt;

use crate::IngestError;

/// The body, decompressed, at most `limit` bytes either way.
pub(crate) async fn read_body(
    request: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    check_content_type(request)?;
    let gzip = match request.headers().get(CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("identity") => false,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("gzip") => true,
        Some(Ok(v)) => return Err(IngestError::UnsupportedEncoding(v.to_owned())),
        Some(Err(_)) => return Err(IngestError::UnsupportedEncoding("(not text)".to_owned())),
    };
    let mut raw = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            IngestError::Tracking(cdp_tracking::TrackingError {
                kind: cdp_tracking::ErrorKind::Invalid,
                message: "the request body could not be read".into(),
            })
        })?;
        if raw.len() + chunk.len() > limit {
            return Err(IngestError::BodyTooLarge { limit });
        }
        raw.extend_from_slice(&chunk);
    }
    if gzip { gunzip(&raw, limit) } else { Ok(raw) }
}

fn check_content_type(request: &HttpRequest) -> Result<(), IngestError> {
    let Some(value) = request.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let accepted = essence.is_empty()
        || essence == "application/json"
        || essence == "text/plain"
        || essence.ends_with("+json");
    if accepted {
        Ok(())
    } else {
        Err(IngestError::UnsupportedMediaType(text.to_owned()))
    }
}

pub(crate) fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| IngestError::InvalidGzip)?;
    if out.len() > limit {
        return Err(IngestError::BodyTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn round_trips_within_the_limit() {
        let data = br#"{"userId":"u"}"#;
        assert_eq!(gunzip(&gzip(data), 1024).unwrap(), data);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 50 MB of zeros compress to about 50 KB.
        let bomb = gzip(&vec![0u8; 50 * 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024);
        assert!(matches!(
            gunzip(&bomb, 500 * 1024),
            Err(IngestError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_not_gzip() {
        assert!(matches!(
            gunzip(b"plain text", 1024),
            Err(IngestError::InvalidGzip)
        ));
    }
}
