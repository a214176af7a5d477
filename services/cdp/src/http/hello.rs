//! The benchmark build's hello-world route: the same server, middleware and connection
//! handling as the tracking API, with a handler that does nothing. The benchmark compares
//! ingestion with it to tell what parsing and validation cost beyond HTTP itself.

use actix_web::HttpResponse;
use cdp_http::Routes;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Benchmark");
    r.post("/bench/hello", || async {
        HttpResponse::Ok().json(serde_json::json!({"success": true}))
    })
    .summary("Answers like the tracking API and does nothing (benchmark builds only)")
    .ok();
}
