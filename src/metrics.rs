//! Process metrics, exposed at `/metrics` in the Prometheus/OpenMetrics text format.
//!
//! One registry per [`crate::App`] rather than a global one, so several servers in one test process keep
//! separate counts. Modules add their metrics as fields here and register them in [`Metrics::new`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Labels of a finished HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// HTTP method.
    pub method: String,
    /// The route template (`/api/courses/{id}`), never the raw path, so ids do not explode the series.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of a request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// The route template.
    pub route: String,
}

/// Labels of a job kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// Job kind.
    pub kind: String,
}

/// Labels of a finished job run.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobOutcomeLabels {
    /// Job kind.
    pub kind: String,
    /// `done` or `failed`.
    pub outcome: String,
}

/// Labels of a queue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// Queue name.
    pub queue: String,
}

type HistogramFactory = fn() -> Histogram;

fn job_histogram() -> Histogram {
    // 1 ms .. ~9 min.
    Histogram::new(exponential_buckets(0.001, 2.5, 15))
}

fn latency_histogram() -> Histogram {
    // 0.1 ms .. ~3.3 s: most answers take under a millisecond; tutor streams start within seconds.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// All metrics of one running SmartCourse.
pub struct Metrics {
    registry: Registry,
    /// Finished HTTP requests.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Time from request to response headers.
    pub http_duration: Family<RouteLabels, Histogram, HistogramFactory>,
    /// Requests being handled now.
    pub http_in_flight: Gauge,
    /// Queued jobs per queue.
    pub jobs_queued: Family<QueueLabels, Gauge>,
    /// Job run times per kind.
    pub job_duration: Family<JobLabels, Histogram, HistogramFactory>,
    /// Job runs per kind and outcome (a failed run may be retried).
    pub job_runs: Family<JobOutcomeLabels, Counter>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("smartcourse");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<RouteLabels, Histogram, HistogramFactory>::new_with_constructor(
                latency_histogram,
            );
        let http_in_flight = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (to the response headers), by route template",
            Unit::Seconds,
            http_duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled now",
            http_in_flight.clone(),
        );
        let jobs_queued = Family::<QueueLabels, Gauge>::default();
        let job_duration =
            Family::<JobLabels, Histogram, HistogramFactory>::new_with_constructor(job_histogram);
        let job_runs = Family::<JobOutcomeLabels, Counter>::default();
        registry.register(
            "jobs_queued",
            "Jobs waiting in each queue",
            jobs_queued.clone(),
        );
        registry.register_with_unit(
            "job_duration",
            "Time jobs took to run, by kind",
            Unit::Seconds,
            job_duration.clone(),
        );
        registry.register(
            "job_runs",
            "Job runs by kind and outcome (done or failed)",
            job_runs.clone(),
        );
        let build_info = Family::<Vec<(String, String)>, Gauge>::default();
        build_info
            .get_or_create(&vec![("version".into(), env!("CARGO_PKG_VERSION").into())])
            .set(1);
        registry.register("build_info", "The running SmartCourse version", build_info);
        Metrics {
            registry,
            http_requests,
            http_duration,
            http_in_flight,
            jobs_queued,
            job_duration,
            job_runs,
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
