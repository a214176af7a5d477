//! The OpenAPI 3 document at `/openapi.json`, built from the same registrations that route
//! requests (see [`cdp_http::Routes`]), with who may call each operation taken from the
//! access table the gate enforces; and `/docs`, a page that lists the operations and sends
//! them with a token the reader pastes in.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use actix_web::HttpResponse;
use cdp_api::endpoints::Guard;
use cdp_http::{Content, Operation, Routes};
use serde_json::{Map, Value, json};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Operations");
    r.get("/openapi.json", openapi)
        .summary("This document")
        .ok();
    r.get("/docs", page)
        .summary("Interactive documentation of this API")
        .answers(200, Content::Raw("text/html"));
    r.get("/docs/docs.js", script)
        .summary("The documentation page's script")
        .answers(200, Content::Raw("text/javascript"));
    r.get("/docs/docs.css", style)
        .summary("The documentation page's style sheet")
        .answers(200, Content::Raw("text/css"));
}

/// Built once: the routes do not change while the process runs.
fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| document().to_string())
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_text())
}

/// The page loads nothing but its own script and style: no inline code, no other origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    cdp_http::page_file(content_type, CSP).body(body)
}

async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", include_str!("docs/index.html"))
}

async fn script() -> HttpResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("docs/docs.js"),
    )
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", include_str!("docs/docs.css"))
}

/// The document for every role this binary can run.
pub fn document() -> Value {
    let mut routes = Routes::describing();
    super::register(&mut routes, crate::cli::Roles::ALL);
    build(routes.into_operations())
}

fn build(operations: Vec<Operation>) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable, for programs: invalid_request, unauthorized, forbidden, not_found, …"},
                "message": {"type": "string", "description": "For people."},
            },
        }),
    );
    let mut tags = BTreeSet::new();
    for op in operations {
        for (name, schema) in &op.components {
            schemas.insert(name.clone(), schema.clone());
        }
        tags.insert(op.tag);
        let item = paths
            .entry(op.path.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item is an object");
        item.insert(op.method.to_ascii_lowercase(), operation(&op));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "CDP",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Customer Data Platform's HTTP interface: the tracking and webhook APIs that take events, and the management API (profiles, segments, destinations, privacy requests, workspaces). Errors are JSON objects with a `code` and a `message`.",
        },
        "tags": tags.iter().filter(|t| !t.is_empty()).map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API key, or an access token from POST /v1/auth/login."},
                "writeKey": {"type": "http", "scheme": "basic",
                             "description": "A source's write key as the user name, with an empty password (a Bearer write key and `writeKey` in the body work too)."},
                "metricsToken": {"type": "http", "scheme": "bearer",
                                 "description": "The token configured as CDP_METRICS_TOKEN."},
            },
        },
    })
}

/// How an operation is reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Through the gate, as the access table says.
    Gated(Guard),
    /// With a write key (the tracking and webhook APIs).
    WriteKey,
    /// With the write key in the path.
    KeyInPath,
    /// With the metrics token.
    Metrics,
    /// By anyone, touching no tenant's data.
    Open,
}

fn access(op: &Operation) -> Access {
    if let Some(endpoint) = cdp_api::find_endpoint(op.method, &op.path) {
        return Access::Gated(endpoint.guard);
    }
    match op.tag {
        "Tracking" => Access::WriteKey,
        "Webhooks" if op.path.contains("{write_key}") => Access::KeyInPath,
        "Webhooks" => Access::WriteKey,
        _ if op.path == "/metrics" => Access::Metrics,
        _ => Access::Open,
    }
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

/// The error statuses an operation can answer, from what it takes and who may call it.
fn errors(op: &Operation, access: Access) -> BTreeSet<u16> {
    let mut errors: BTreeSet<u16> = op.errors.iter().copied().collect();
    let takes_input = op.path.contains('{') || !op.query.is_empty() || op.body.is_some();
    match access {
        Access::WriteKey | Access::KeyInPath => {
            errors.extend([400, 401, 403, 413, 415, 429, 503]);
        }
        Access::Gated(guard) => {
            if takes_input {
                errors.insert(400);
            }
            // Every gated operation reads a credential when one is sent, and refuses a bad one.
            errors.insert(401);
            if guard != Guard::Public {
                errors.insert(403);
            } else {
                errors.insert(429);
            }
            if op.path.contains('{') {
                errors.insert(404);
            }
            if op.method != "GET" {
                errors.insert(409);
            }
            if op.body.is_some() {
                errors.insert(413);
            }
            errors.insert(503);
        }
        Access::Metrics | Access::Open => {}
    }
    errors
}

fn content(content: &Content) -> Option<Value> {
    let (media, schema) = match content {
        Content::Json(schema) => ("application/json", schema.clone()),
        Content::Raw(media) => (*media, json!({"type": "string"})),
        Content::Empty => return None,
    };
    Some(json!({ media: {"schema": schema} }))
}

fn operation(op: &Operation) -> Value {
    let access = access(op);
    let mut responses = Map::new();
    for (status, body) in &op.responses {
        let mut response = json!({"description": description(*status)});
        if let Some(content) = content(body) {
            response["content"] = content;
        }
        responses.insert(status.to_string(), response);
    }
    for status in errors(op, access) {
        responses.entry(status.to_string()).or_insert_with(|| {
            json!({
                "description": description(status),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            })
        });
    }
    let security = match access {
        Access::Gated(Guard::Public) | Access::KeyInPath | Access::Open => json!([]),
        Access::Gated(_) => json!([{"bearer": []}]),
        Access::WriteKey => json!([{"writeKey": []}, {"bearer": []}, {}]),
        Access::Metrics => json!([{"metricsToken": []}]),
    };
    let mut parameters = path_parameters(&op.path);
    parameters.extend(op.query.iter().cloned());
    let id: String = format!("{} {}", op.method, op.path)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut shown = json!({
        "operationId": id,
        "summary": op.summary,
        "responses": responses,
        "security": security,
    });
    if !op.tag.is_empty() {
        shown["tags"] = json!([op.tag]);
    }
    if let Access::Gated(Guard::Tenant(permission)) = access {
        shown["description"] = json!(format!(
            "Requires the `{}` permission.",
            permission.as_str()
        ));
        shown["x-permission"] = json!(permission.as_str());
    }
    if !parameters.is_empty() {
        shown["parameters"] = json!(parameters);
    }
    if let Some(schema) = &op.body {
        let mut media = Map::new();
        for m in op.body_media {
            media.insert((*m).to_owned(), json!({"schema": schema}));
        }
        shown["requestBody"] = json!({"required": !op.body_optional, "content": media});
    }
    shown
}

fn description(status: u16) -> &'static str {
    match status {
        200 => "Done.",
        201 => "Created.",
        202 => "Accepted; the work continues in the background.",
        204 => "Done; nothing to return.",
        400 => "The request is malformed or a value is invalid.",
        401 => "No valid credential.",
        403 => "The credential does not allow this, or the workspace is suspended.",
        404 => "No such thing in this workspace.",
        409 => "It conflicts with the current state.",
        410 => "It existed and is gone.",
        413 => "The body is too large.",
        415 => "Unsupported content type or encoding.",
        429 => "Too many requests; retry after the Retry-After header's seconds.",
        503 => "Storage is unavailable or the server is saturated; retry after Retry-After.",
        _ => "See the error's code.",
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpRequest, web};

    use super::*;
    use crate::cli::Roles;

    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

    /// Whether a concrete path fits a template, segment by segment.
    fn fits(template: &str, path: &str) -> bool {
        let (t, p): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
    }

    /// The (method, path) pairs the document describes.
    fn described() -> BTreeSet<(String, String)> {
        let document = document();
        let mut pairs = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                pairs.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
        pairs
    }

    /// The router itself is asked what it routes: the patterns of its resource map, and
    /// for each described path, which methods reach a handler.
    #[actix_web::test]
    async fn every_route_the_server_has_is_in_the_document() {
        let described = described();
        let app = actix_test::init_service(
            App::new()
                .configure(|cfg| super::super::register(&mut Routes::serving(cfg), Roles::ALL))
                .route(
                    "/test/resource-map",
                    web::get()
                        .to(|r: HttpRequest| async move { format!("{:?}", r.resource_map()) }),
                )
                .default_service(web::to(cdp_http::not_found)),
        )
        .await;
        let map = actix_test::call_and_read_body(
            &app,
            actix_test::TestRequest::get()
                .uri("/test/resource-map")
                .to_request(),
        )
        .await;
        let map = String::from_utf8(map.to_vec()).unwrap();
        let patterns: Vec<&str> = map
            .split("Single(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|p| !p.is_empty() && *p != "/test/resource-map")
            .collect();
        assert!(patterns.len() > 50, "the resource map was not read: {map}");
        let paths: BTreeSet<&str> = described.iter().map(|(_, p)| p.as_str()).collect();
        for pattern in &patterns {
            assert!(
                paths.contains(pattern),
                "{pattern} is routed but not in the document"
            );
        }
        // A method the document leaves out must not reach a handler: it falls through to
        // the 404 (or the tracking API's 405). A handler reached here would fail for want
        // of its app data, with a 500.
        for path in &paths {
            let uri = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for method in METHODS {
                if described.contains(&(method.to_owned(), (*path).to_owned())) {
                    continue;
                }
                let request = actix_test::TestRequest::default()
                    .method(Method::from_bytes(method.as_bytes()).unwrap())
                    .uri(&uri)
                    .to_request();
                let status = actix_test::call_service(&app, request)
                    .await
                    .status()
                    .as_u16();
                // `GET /v1/profiles/search` is `GET /v1/profiles/{profile}`, say.
                let other = described.iter().any(|(m, p)| m == method && fits(p, &uri));
                assert!(
                    status == 404 || status == 405 || other,
                    "{method} {path} answers {status}: routed but not in the document"
                );
            }
        }
    }

    #[test]
    fn the_document_describes_every_endpoint_of_the_access_table_with_its_permission() {
        let document = document();
        let described = described();
        for endpoint in cdp_api::endpoints::ENDPOINTS {
            let found = described.iter().find(|(m, p)| {
                m == endpoint.method
                    && cdp_api::find_endpoint(m, p).is_some_and(|e| e.path == endpoint.path)
            });
            let (method, path) = found.unwrap_or_else(|| {
                panic!("{} {} is not described", endpoint.method, endpoint.path)
            });
            let operation = &document["paths"][path][method.to_ascii_lowercase()];
            match endpoint.guard {
                Guard::Tenant(permission) => {
                    assert_eq!(operation["x-permission"], permission.as_str());
                    assert_eq!(operation["security"], json!([{"bearer": []}]));
                }
                Guard::Platform | Guard::SignedIn => {
                    assert_eq!(operation["security"], json!([{"bearer": []}]))
                }
                Guard::Public => assert_eq!(operation["security"], json!([])),
            }
        }
    }

    #[test]
    fn every_operation_has_a_summary_a_success_and_its_errors() {
        let document = document();
        let mut ids = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let name = format!("{method} {path}");
                assert!(
                    !op["summary"].as_str().unwrap().is_empty(),
                    "{name}: no summary"
                );
                assert!(
                    ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                    "{name}: id taken"
                );
                let statuses: Vec<u16> = op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(|k| k.parse().unwrap())
                    .collect();
                assert!(
                    statuses.iter().any(|s| (200..300).contains(s)),
                    "{name}: no success"
                );
                if op["security"] != json!([]) && !path.starts_with("/metrics") {
                    assert!(statuses.contains(&401), "{name}: no 401");
                }
                if path.contains('{') && op["x-permission"].is_string() {
                    assert!(statuses.contains(&404), "{name}: no 404");
                }
            }
        }
    }
}
