//! Prometheus text exposition: metric families, label escaping and sample formatting, merged across sites.

use std::fmt::Write;

/// Every metric family the exporter can emit, in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Fam {
    Up,
    LastScrape,
    ApiVersion,
    DiskBytes,
    DiskCapacity,
    StorageInfo,
    StorageMaxJobs,
    StorageMaxFragment,
    JobsCount,
    JobsBytes,
    StatusCount,
    JobsFiles,
    JobsState,
    JobsQueued,
    JobsDedup,
    JobDuration,
    JobsFinishedTotal,
    JobsBytesTotal,
    JobsInStore,
    CollectionDuration,
    CollectionErrors,
    ApiRequests,
    ApiRequestDuration,
}

pub const FAMILY_COUNT: usize = Fam::ApiRequestDuration as usize + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// Name and type of each family, indexed by [`Fam`].
const DEFS: [(&str, Kind); FAMILY_COUNT] = [
    ("nbu_up", Kind::Gauge),
    ("nbu_last_scrape_timestamp_seconds", Kind::Gauge),
    ("nbu_api_version", Kind::Gauge),
    ("nbu_disk_bytes", Kind::Gauge),
    ("nbu_disk_capacity_bytes", Kind::Gauge),
    ("nbu_storage_info", Kind::Gauge),
    ("nbu_storage_max_concurrent_jobs", Kind::Gauge),
    ("nbu_storage_max_fragment_size_bytes", Kind::Gauge),
    ("nbu_jobs_count", Kind::Gauge),
    ("nbu_jobs_bytes", Kind::Gauge),
    ("nbu_status_count", Kind::Gauge),
    ("nbu_jobs_files_count", Kind::Gauge),
    ("nbu_jobs_state_count", Kind::Gauge),
    ("nbu_jobs_queued_count", Kind::Gauge),
    ("nbu_jobs_dedup_ratio", Kind::Gauge),
    ("nbu_job_duration_seconds", Kind::Histogram),
    ("nbu_jobs_finished_total", Kind::Counter),
    ("nbu_jobs_transferred_bytes_total", Kind::Counter),
    ("nbu_exporter_jobs_in_store", Kind::Gauge),
    ("nbu_exporter_collection_duration_seconds", Kind::Histogram),
    ("nbu_exporter_collection_errors_total", Kind::Counter),
    ("nbu_exporter_api_requests_total", Kind::Counter),
    ("nbu_exporter_api_request_duration_seconds", Kind::Histogram),
];

/// The HELP/TYPE header of every family; HELP of cached families names the TTL.
#[derive(Debug, Clone)]
pub struct Families {
    headers: Vec<String>,
}

impl Families {
    pub fn new(cache_ttl: &str, job_window: &str) -> Self {
        let cached = format!("(cached: {cache_ttl} TTL)");
        let window = format!("(jobs that finished in the last {job_window})");
        let help: [String; FAMILY_COUNT] = [
            "1 if the last collection of at least one source from the NetBackup site succeeded, else 0".into(),
            "Unix time of the last successful collection per source; kept when later collections fail".into(),
            "The NetBackup API version in use (value always 1)".into(),
            format!("Storage unit free and used bytes {cached}"),
            format!("Storage unit total capacity in bytes {cached}"),
            format!("Storage unit capabilities, value always 1 {cached}"),
            format!("Maximum concurrent jobs the storage unit accepts {cached}"),
            format!("Maximum fragment size of the storage unit in bytes {cached}"),
            format!("Finished jobs {window}"),
            format!("Bytes transferred by finished jobs {window}"),
            format!("Finished jobs per exit status {window}"),
            format!("Files processed by finished jobs {window}"),
            "Jobs per state: unfinished jobs plus jobs that finished within the window".into(),
            "Queued jobs per NetBackup queue reason code".into(),
            format!("Mean deduplication ratio in percent of finished jobs that report one {window}"),
            format!("Duration of finished jobs {window}"),
            "Jobs seen reaching DONE since the exporter started, each counted once".into(),
            "Bytes transferred by jobs seen reaching DONE since the exporter started, each counted once".into(),
            "Jobs held in the exporter's in-memory job store".into(),
            "Time one collection of a source took, retries included".into(),
            "Failed collections by kind: transport, unauthorized, version, http, decode".into(),
            "Requests sent to NetBackup by endpoint and HTTP status (error: no answer)".into(),
            "Latency of requests to NetBackup by endpoint, body included".into(),
        ];
        let headers = DEFS
            .iter()
            .zip(help.iter())
            .map(|((name, kind), help)| {
                format!("# HELP {name} {}\n# TYPE {name} {}\n", escape_help(help), kind.as_str())
            })
            .collect();
        Families { headers }
    }

    pub fn name(fam: Fam) -> &'static str {
        DEFS[fam as usize].0
    }

    /// Writes every family that has samples: HELP/TYPE once, then each site's lines.
    pub fn render(&self, sites: &[&Samples], out: &mut Vec<u8>) {
        for (i, header) in self.headers.iter().enumerate() {
            if sites.iter().all(|s| s.bufs[i].is_empty()) {
                continue;
            }
            out.extend_from_slice(header.as_bytes());
            for s in sites {
                out.extend_from_slice(s.bufs[i].as_bytes());
            }
        }
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a sample value per the exposition format (`+Inf`, `-Inf`, `NaN`).
pub fn format_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Sample lines of one site, bucketed by family so sites can be merged under one HELP/TYPE.
#[derive(Debug, Clone)]
pub struct Samples {
    bufs: Vec<String>,
}

impl Default for Samples {
    fn default() -> Self {
        Samples { bufs: vec![String::new(); FAMILY_COUNT] }
    }
}

impl Samples {
    fn line(&mut self, fam: Fam, suffix: &str, labels: &[(&str, &str)], extra: Option<(&str, &str)>, v: f64) {
        let buf = &mut self.bufs[fam as usize];
        buf.push_str(Families::name(fam));
        buf.push_str(suffix);
        let mut first = true;
        for (k, val) in labels.iter().copied().chain(extra) {
            buf.push(if first { '{' } else { ',' });
            first = false;
            buf.push_str(k);
            buf.push_str("=\"");
            escape_label(buf, val);
            buf.push('"');
        }
        if !first {
            buf.push('}');
        }
        buf.push(' ');
        format_value(buf, v);
        buf.push('\n');
    }

    /// A gauge or counter sample.
    pub fn sample(&mut self, fam: Fam, labels: &[(&str, &str)], v: f64) {
        self.line(fam, "", labels, None, v);
    }

    /// A histogram: `bounds` are the upper bounds, `counts` the per-bucket (non-cumulative) counts.
    pub fn histogram(&mut self, fam: Fam, labels: &[(&str, &str)], h: &Histogram) {
        let mut cum = 0u64;
        let mut le = String::new();
        for (b, c) in h.bounds.iter().zip(&h.counts) {
            cum += c;
            le.clear();
            format_value(&mut le, *b);
            self.line(fam, "_bucket", labels, Some(("le", &le)), cum as f64);
        }
        self.line(fam, "_bucket", labels, Some(("le", "+Inf")), h.count as f64);
        self.line(fam, "_sum", labels, None, h.sum);
        self.line(fam, "_count", labels, None, h.count as f64);
    }

    pub fn is_empty(&self) -> bool {
        self.bufs.iter().all(String::is_empty)
    }
}

/// A histogram accumulator with fixed bucket bounds.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }
    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_sites_under_one_header_and_escapes() {
        let fams = Families::new("5m", "1h");
        let mut a = Samples::default();
        a.sample(Fam::Up, &[("site", "a")], 1.0);
        let mut b = Samples::default();
        b.sample(Fam::Up, &[("site", "b\"\\\n")], 0.0);
        let mut h = Histogram::new(&[1.0, 10.0]);
        h.observe(0.5);
        h.observe(5.0);
        h.observe(50.0);
        b.histogram(Fam::JobDuration, &[("site", "b")], &h);
        let mut out = Vec::new();
        fams.render(&[&a, &b], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("# TYPE nbu_up gauge").count(), 1);
        assert!(text.contains("nbu_up{site=\"a\"} 1\nnbu_up{site=\"b\\\"\\\\\\n\"} 0\n"), "{text}");
        assert!(text.contains("nbu_job_duration_seconds_bucket{site=\"b\",le=\"10\"} 2\n"));
        assert!(text.contains("nbu_job_duration_seconds_bucket{site=\"b\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("nbu_job_duration_seconds_sum{site=\"b\"} 55.5\n"));
        assert!(!text.contains("nbu_disk_bytes"));
    }
}
