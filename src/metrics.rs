//! Prometheus metrics shared by the HTTP roles: a [`Metrics`] struct with its own registry, the
//! request middleware ([`observe`]) that also writes the access log, and the `/metrics` encoder.
//!
//! Families every HTTP role exports (names mirror the original's prometheus_flask_exporter):
//!
//! | metric | type | labels | original |
//! |---|---|---|---|
//! | `articles_http_requests_total` | counter | method, path, status | `flask_http_request_total` |
//! | `articles_http_request_duration_seconds` | histogram, 100 µs – 10 s | method, path, status | `flask_http_request_duration_seconds` |
//! | `articles_http_request_exceptions_total` | counter (5xx answers, panics included) | method, path | `flask_http_request_exceptions_total` |
//! | `articles_http_requests_in_flight` | gauge | | |
//! | `articles_build_info` | gauge = 1 | version | |
//! | `process_*` | the prometheus crate's process collector (memory, CPU, fds) | | |
//!
//! `path` is the route template (`/articles/{id}`), never the raw path, so cardinality stays
//! bounded; requests that match no route share the value `unmatched`. Roles register their own
//! gauges through [`Metrics::registry`].
//!
//! A labelled counter that has never been incremented does not exist for Prometheus, so an alert
//! on it would see "no data" instead of 0. Each role therefore hands its route table to
//! [`Metrics::expect_endpoints`], which creates the exceptions counter of every (method, path) it
//! serves at 0 from start-up. The in-flight gauge is held by a guard for as long as the request's
//! future lives, so a request that is dropped half-way (the client went away, a panic, shutdown)
//! leaves it as it found it.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use futures_util::FutureExt;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Histogram buckets for request latency, in seconds: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Label value for requests that matched no route.
pub const UNMATCHED_PATH: &str = "unmatched";

/// The metrics of one process. Cheap to share behind `web::Data`.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    exceptions: IntCounterVec,
    in_flight: IntGauge,
}

impl Metrics {
    /// Creates the registry with the HTTP families, build info and process metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("articles_http_requests_total", "HTTP requests answered"),
            &["method", "path", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "articles_http_request_duration_seconds",
                "Time from request to response, in seconds",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "path", "status"],
        )
        .expect("valid metric");
        let exceptions = IntCounterVec::new(
            Opts::new(
                "articles_http_request_exceptions_total",
                "Requests answered with a 5xx status",
            ),
            &["method", "path"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new(
            "articles_http_requests_in_flight",
            "Requests being handled right now",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "articles_build_info",
                "Version of the running binary (always 1)",
            ),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(exceptions.clone()),
            Box::new(in_flight.clone()),
            Box::new(build_info),
        ] {
            registry
                .register(collector)
                .expect("metric registered once");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process metrics registered once");
        Self {
            registry,
            requests,
            duration,
            exceptions,
            in_flight,
        }
    }

    /// Creates the exceptions counter of every method and route template of `endpoints` at 0.
    /// `endpoints` is a role's route table: (path template, the methods it answers as in an
    /// `Allow` header, e.g. `"GET, HEAD"`).
    pub fn expect_endpoints(&self, endpoints: &[(&str, &str)]) {
        for (path, methods) in endpoints {
            for method in methods.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                self.exceptions.with_label_values(&[method, path]);
            }
        }
    }

    /// The registry, for role-specific collectors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn record(&self, method: &str, path: &str, status: StatusCode, seconds: f64) {
        let status = status.as_str();
        self.requests
            .with_label_values(&[method, path, status])
            .inc();
        self.duration
            .with_label_values(&[method, path, status])
            .observe(seconds);
        if status.starts_with('5') {
            self.exceptions.with_label_values(&[method, path]).inc();
        }
    }

    /// Everything in the registry, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding to memory cannot fail");
        String::from_utf8(buffer).expect("text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: counts and times every request by route template and writes one access-log line.
/// A handler that panics is answered with a JSON 500 (and counted as an exception) instead of
/// dropping the connection. Needs `web::Data<Metrics>` in the app.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let in_flight = metrics.as_ref().map(|m| InFlight::enter(&m.in_flight));
    let method = req.method().clone();
    let template = req.match_pattern();
    let uri = req.uri().clone(); // reference-counted: no copy of the path per request
    let result = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(panic) => {
            let cause = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(crate::error::ApiError::Internal(format!("handler panicked: {cause}")).into())
        }
    };
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    let path = template.as_deref().unwrap_or(UNMATCHED_PATH);
    drop(in_flight);
    if let Some(metrics) = &metrics {
        metrics.record(method.as_str(), path, status, elapsed.as_secs_f64());
    }
    tracing::info!(
        target: "articles::access",
        method = %method,
        path = %uri.path(),
        status = status.as_u16(),
        micros = elapsed.as_micros() as u64,
    );
    result
}

/// One request counted in `articles_http_requests_in_flight` while this lives. Dropped when the
/// answer is ready, or with the request's future when actix drops it half-way (the client closed
/// the connection, shutdown), so the gauge never keeps a request that is gone.
struct InFlight(IntGauge);

impl InFlight {
    fn enter(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`.
pub async fn export(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType(
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .expect("valid mime"),
        ))
        .body(metrics.encode())
}

#[cfg(test)]
mod tests {
    use actix_web::{test, App};

    use super::*;

    /// A panicking handler is answered with a JSON 500 and counted under its route template.
    #[actix_web::test]
    async fn panics_become_json_500_and_are_counted() {
        let metrics = web::Data::new(Metrics::new());
        let app = test::init_service(
            App::new()
                .app_data(metrics.clone())
                .wrap(actix_web::middleware::from_fn(observe))
                .route(
                    "/boom/{id}",
                    web::get().to(|| async {
                        if true {
                            panic!("kaboom");
                        }
                        HttpResponse::Ok().finish()
                    }),
                ),
        )
        .await;
        let request = test::TestRequest::get().uri("/boom/7").to_request();
        let Err(error) = test::try_call_service(&app, request).await else {
            panic!("the panic should surface as an error response");
        };
        let response = error.error_response();
        assert_eq!(response.status().as_u16(), 500);
        let bytes = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["error"], "internal server error");
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"articles_http_request_exceptions_total{method="GET",path="/boom/{id}"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("articles_http_requests_in_flight 0"),
            "{text}"
        );
    }
}
