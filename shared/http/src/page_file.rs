//! Files of the pages this server serves itself (the API documentation, the console):
//! compiled in, each under its page's Content-Security-Policy and never sniffed as another
//! type.

use actix_web::HttpResponseBuilder;
use actix_web::http::StatusCode;

/// A 200 for a page's file of `media` type under `csp`; the caller adds the body.
pub fn page_file(media: &str, csp: &'static str) -> HttpResponseBuilder {
    let mut response = HttpResponseBuilder::new(StatusCode::OK);
    response
        .content_type(media)
        .insert_header(("content-security-policy", csp))
        .insert_header(("x-content-type-options", "nosniff"));
    response
}
