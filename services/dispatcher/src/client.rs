//! The HTTP client deliveries go out with: TLS with the web's public roots, no redirects
//! (a redirect could lead anywhere, the platform's own network included), a timeout per
//! delivery, and a resolver that drops every address the network policy refuses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdp_destinations::{NetworkPolicy, SignedHeaders};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tracing::Instrument;

use crate::DispatchError;

/// How a receiver answered one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Status {
        code: u16,
        /// What the receiver asked for in `Retry-After` (seconds).
        retry_after: Option<Duration>,
    },
    /// No answer: refused address, connection error, timeout. Says what, never a body.
    Failed(String),
}

/// Makes ring the process's TLS provider. The HTTP client is built without a provider of
/// its own choosing (the default one needs a C build of its own), and every client in
/// the process, telemetry's exporter and tests' included, then needs one installed:
/// call this before building any.
pub fn install_tls_provider() {
    // Already installed (by an earlier call) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    network: NetworkPolicy,
}

impl WebhookClient {
    pub fn new(network: NetworkPolicy, timeout: Duration) -> Result<WebhookClient, DispatchError> {
        install_tls_provider();
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| DispatchError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("cdp-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                network: network.clone(),
            }))
            .build()
            .map_err(|e| DispatchError::Client(e.to_string()))?;
        Ok(WebhookClient { http, network })
    }

    /// Posts one signed delivery; returns the answer and how long it took.
    pub async fn post(
        &self,
        url: &str,
        headers: &SignedHeaders,
        body: Vec<u8>,
    ) -> (Answer, Duration) {
        let started = Instant::now();
        // Addresses written in the URL are not resolved, so they are checked here.
        if let Err(e) = self.network.check_url(url) {
            return (Answer::Failed(format!("refused: {e}")), started.elapsed());
        }
        let span = tracing::info_span!(
            "webhook.deliver",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = "POST",
            http.response.status_code = tracing::field::Empty,
        );
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &headers.id)
            .header("webhook-timestamp", headers.timestamp.to_string())
            .header("webhook-signature", &headers.signature);
        // The receiver can continue the trace: `traceparent` names the delivery's span.
        for (name, value) in span.in_scope(cdp_telemetry::outgoing_trace_headers) {
            request = request.header(name, value);
        }
        let sent = request.body(body).send().instrument(span.clone()).await;
        match &sent {
            Ok(response) => {
                span.record("http.response.status_code", response.status().as_u16());
                if !response.status().is_success() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        let answer = match sent {
            Ok(response) => Answer::Status {
                code: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(3600))),
            },
            Err(e) => Answer::Failed(describe(&e)),
        };
        (answer, started.elapsed())
    }
}

/// What went wrong, in words a delivery log can show: the kind of failure and its
/// innermost cause (which names the address refused, the timeout, the reset).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let cause = cause.to_string();
    if cause == e.to_string() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// Resolves with the system resolver and keeps only the addresses the policy permits.
struct GuardedResolver {
    network: NetworkPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let network = self.network.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| network.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                let shown = found
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                return Err(format!(
                    "{host} resolves to {shown}, not a public address; deliveries to it are \
                     refused unless destinations_allowed_networks allows it"
                )
                .into());
            }
            let addrs: Addrs = Box::new(permitted.into_iter());
            Ok(addrs)
        })
    }
}
