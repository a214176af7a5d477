//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its database, and
//! Redis when configured, answer too).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use cdp_http::{Content, Routes};
use serde::Serialize;

use crate::Runtime;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Operations");
    r.get("/healthz", healthz)
        .summary("Liveness: the process answers")
        .ok();
    r.get("/readyz", readyz)
        .summary("Readiness: the database, and Redis when configured, answer")
        .ok()
        .answers(503, Content::object());
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Check {
    Up,
    Down,
    Disabled,
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    database: Check,
    redis: Check,
}

async fn readyz(runtime: web::Data<Runtime>) -> HttpResponse {
    let (database, redis) = tokio::join!(database_check(&runtime), redis_check(&runtime));
    let ready = database == Check::Up && redis != Check::Down;
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        database,
        redis,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn database_check(runtime: &Runtime) -> Check {
    match tokio::time::timeout(CHECK_TIMEOUT, cdp_storage::ping(&runtime.db)).await {
        Ok(Ok(())) => Check::Up,
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::error_chain(&e), "readiness: database is not answering");
            Check::Down
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            Check::Down
        }
    }
}

async fn redis_check(runtime: &Runtime) -> Check {
    let Some(redis) = &runtime.redis else {
        return Check::Disabled;
    };
    let mut conn = redis.clone();
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<String>(&mut conn);
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => Check::Up,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: Redis is not answering");
            Check::Down
        }
        Err(_) => {
            tracing::warn!("readiness: Redis did not answer in time");
            Check::Down
        }
    }
}
