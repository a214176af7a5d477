//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its database
//! answers). Redis is a fast path every use of which has a fallback, so a Redis that does
//! not answer makes the process `degraded`, still ready: taking every replica out of the
//! load balancer because Redis is away would turn a slower service into none.

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
        .summary("Readiness: the database answers (Redis down: ready, degraded)")
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
    let ready = database == Check::Up;
    let status = match (ready, redis) {
        (false, _) => "unavailable",
        (true, Check::Down) => "degraded",
        (true, _) => "ready",
    };
    let body = Readiness {
        status,
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
    let mut conn = redis.probe();
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<String>(&mut conn);
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => {
            redis.succeeded();
            Check::Up
        }
        Ok(Err(e)) => {
            redis.failed();
            tracing::warn!(error = %e, "readiness: Redis is not answering");
            Check::Down
        }
        Err(_) => {
            redis.failed();
            tracing::warn!("readiness: Redis did not answer in time");
            Check::Down
        }
    }
}
