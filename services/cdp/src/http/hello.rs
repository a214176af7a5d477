//! The benchmark build's hello-world route: the same server, middleware and connection
//! handling as the tracking API, with a handler that does nothing. The benchmark compares
//! ingestion with it to tell what parsing and validation cost beyond HTTP itself.

use actix_web::{HttpResponse, web};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/bench/hello",
        web::post().to(|| async { HttpResponse::Ok().json(serde_json::json!({"success": true})) }),
    );
}
