//! Prometheus exposition on the `prometheus` crate: the table of metric families, sample builders, and the text
//! encoding of every family merged across sites.
//!
//! Collectors write samples into a [`Samples`] (one vector of `prometheus::proto::Metric` per family). The
//! snapshot merges the parts of all sites family by family and encodes them with the crate's `TextEncoder`, which
//! owns HELP/TYPE lines, label escaping and value formatting. A family without samples keeps its HELP/TYPE lines
//! (the crate's encoder refuses empty families, so those two lines are taken from the crate's own encoding of the
//! family with one placeholder sample, once per set of HELP texts).

use prometheus::proto::{self, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::Encoder;

/// Every metric family the exporter emits, in output order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Fam {
    BuildInfo,
    ReloadSuccessful,
    ReloadSuccessTime,
    ReloadsTotal,
    Up,
    CollectorSuccess,
    LastScrape,
    ApiVersion,
    DiskBytes,
    DiskCapacity,
    StorageInfo,
    StorageMaxJobs,
    StorageMaxFragment,
    DiskPoolVolumes,
    DiskPoolState,
    DiskPoolUsable,
    DiskPoolUsed,
    DiskPoolAvailable,
    DiskPoolRaw,
    DiskPoolUsedRatio,
    DiskPoolHighWater,
    DiskPoolLowWater,
    DiskPoolReadOnly,
    DiskVolumeUp,
    DiskVolumeFree,
    DiskVolumeRaw,
    StorageServerState,
    StorageServerInfo,
    MsdpPoolSize,
    MsdpPoolUsed,
    MsdpPoolAvailable,
    MsdpPoolRaw,
    MsdpPoolReserved,
    MsdpPoolUsedRatio,
    MsdpDedupPercent,
    MediaServerUp,
    MediaServerStatus,
    MediaServerInfo,
    SlpBacklogImages,
    SlpBacklogOldest,
    SlpActive,
    SlpInfo,
    ServiceHostSuccess,
    ServiceStatus,
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
    TapeDrives,
    TapeDrivesByControl,
    TapeDriveInfo,
    TapeDriveUp,
    TapeDriveNeedsCleaning,
    TapeDrivePaths,
    TapeDrivePathsDown,
    TapeDriveLastCleaning,
    TapeMedia,
    TapePoolFrozen,
    TapePoolSuspended,
    TapePoolFull,
    TapePoolAtMaxMounts,
    TapePoolMountsRatio,
    TapeScratchAvailable,
    TapePoolPartiallyFull,
    TapeRobotHosts,
    CollectionDuration,
    CollectionErrors,
    ApiRequests,
    ApiRequestDuration,
}

pub const FAMILY_COUNT: usize = Fam::ApiRequestDuration as usize + 1;

/// Name and type of each family, indexed by [`Fam`].
const DEFS: [(&str, MetricType); FAMILY_COUNT] = [
    ("nbu_exporter_build_info", MetricType::GAUGE),
    ("nbu_exporter_config_last_reload_successful", MetricType::GAUGE),
    ("nbu_exporter_config_last_reload_success_timestamp_seconds", MetricType::GAUGE),
    ("nbu_exporter_config_reloads_total", MetricType::COUNTER),
    ("nbu_up", MetricType::GAUGE),
    ("nbu_scrape_collector_success", MetricType::GAUGE),
    ("nbu_last_scrape_timestamp_seconds", MetricType::GAUGE),
    ("nbu_api_version", MetricType::GAUGE),
    ("nbu_disk_bytes", MetricType::GAUGE),
    ("nbu_disk_capacity_bytes", MetricType::GAUGE),
    ("nbu_storage_info", MetricType::GAUGE),
    ("nbu_storage_max_concurrent_jobs", MetricType::GAUGE),
    ("nbu_storage_max_fragment_size_bytes", MetricType::GAUGE),
    ("nbu_disk_pool_volume_count", MetricType::GAUGE),
    ("nbu_disk_pool_state", MetricType::GAUGE),
    ("nbu_disk_pool_usable_bytes", MetricType::GAUGE),
    ("nbu_disk_pool_used_bytes", MetricType::GAUGE),
    ("nbu_disk_pool_available_bytes", MetricType::GAUGE),
    ("nbu_disk_pool_raw_bytes", MetricType::GAUGE),
    ("nbu_disk_pool_used_ratio", MetricType::GAUGE),
    ("nbu_disk_pool_high_water_mark_ratio", MetricType::GAUGE),
    ("nbu_disk_pool_low_water_mark_ratio", MetricType::GAUGE),
    ("nbu_disk_pool_read_only", MetricType::GAUGE),
    ("nbu_disk_volume_up", MetricType::GAUGE),
    ("nbu_disk_volume_free_bytes", MetricType::GAUGE),
    ("nbu_disk_volume_raw_bytes", MetricType::GAUGE),
    ("nbu_storage_server_state", MetricType::GAUGE),
    ("nbu_storage_server_info", MetricType::GAUGE),
    ("nbu_msdp_pool_size_bytes", MetricType::GAUGE),
    ("nbu_msdp_pool_used_bytes", MetricType::GAUGE),
    ("nbu_msdp_pool_available_bytes", MetricType::GAUGE),
    ("nbu_msdp_pool_raw_bytes", MetricType::GAUGE),
    ("nbu_msdp_pool_reserved_bytes", MetricType::GAUGE),
    ("nbu_msdp_pool_used_ratio", MetricType::GAUGE),
    ("nbu_msdp_deduplication_ratio_percent", MetricType::GAUGE),
    ("nbu_media_server_up", MetricType::GAUGE),
    ("nbu_media_server_status", MetricType::GAUGE),
    ("nbu_media_server_info", MetricType::GAUGE),
    ("nbu_slp_backlog_images", MetricType::GAUGE),
    ("nbu_slp_backlog_oldest_backup_timestamp_seconds", MetricType::GAUGE),
    ("nbu_slp_active", MetricType::GAUGE),
    ("nbu_slp_info", MetricType::GAUGE),
    ("nbu_service_host_success", MetricType::GAUGE),
    ("nbu_service_status", MetricType::GAUGE),
    ("nbu_jobs_count", MetricType::GAUGE),
    ("nbu_jobs_bytes", MetricType::GAUGE),
    ("nbu_status_count", MetricType::GAUGE),
    ("nbu_jobs_files_count", MetricType::GAUGE),
    ("nbu_jobs_state_count", MetricType::GAUGE),
    ("nbu_jobs_queued_count", MetricType::GAUGE),
    ("nbu_jobs_dedup_ratio", MetricType::GAUGE),
    ("nbu_job_duration_seconds", MetricType::HISTOGRAM),
    ("nbu_jobs_finished_total", MetricType::COUNTER),
    ("nbu_jobs_transferred_bytes_total", MetricType::COUNTER),
    ("nbu_exporter_jobs_in_store", MetricType::GAUGE),
    ("nbu_tape_drives_count", MetricType::GAUGE),
    ("nbu_tape_drives_by_control_mode", MetricType::GAUGE),
    ("nbu_tape_drive_info", MetricType::GAUGE),
    ("nbu_tape_drive_up", MetricType::GAUGE),
    ("nbu_tape_drive_needs_cleaning", MetricType::GAUGE),
    ("nbu_tape_drive_paths", MetricType::GAUGE),
    ("nbu_tape_drive_paths_down", MetricType::GAUGE),
    ("nbu_tape_drive_last_cleaning_timestamp_seconds", MetricType::GAUGE),
    ("nbu_tape_media_count", MetricType::GAUGE),
    ("nbu_tape_pool_frozen_media", MetricType::GAUGE),
    ("nbu_tape_pool_suspended_media", MetricType::GAUGE),
    ("nbu_tape_pool_full_media", MetricType::GAUGE),
    ("nbu_tape_pool_media_at_max_mounts", MetricType::GAUGE),
    ("nbu_tape_pool_media_max_mounts_ratio", MetricType::GAUGE),
    ("nbu_tape_scratch_media_available", MetricType::GAUGE),
    ("nbu_tape_pool_partially_full", MetricType::GAUGE),
    ("nbu_tape_robot_device_hosts", MetricType::GAUGE),
    ("nbu_exporter_collection_duration_seconds", MetricType::HISTOGRAM),
    ("nbu_exporter_collection_errors_total", MetricType::COUNTER),
    ("nbu_exporter_api_requests_total", MetricType::COUNTER),
    ("nbu_exporter_api_request_duration_seconds", MetricType::HISTOGRAM),
];

/// The settings HELP texts mention, so every cached value says over which window or TTL it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpContext {
    pub cache_ttl: String,
    /// Collectors on their own TTL (`collectors.<name>.cacheTTL`): config key and TTL.
    pub ttls: Vec<(&'static str, String)>,
    pub job_window: String,
    /// How long without an answer from NetBackup before `nbu_up` turns 0.
    pub up_window: String,
}

/// HELP texts of every family and the HELP/TYPE lines of each family encoded without samples.
#[derive(Debug, Clone)]
pub struct Families {
    help: Vec<String>,
    empty: Vec<Vec<u8>>,
}

impl Families {
    pub fn new(ctx: &HelpContext) -> Self {
        let cached = |source: &str| {
            let ttl = ctx.ttls.iter().find(|(s, _)| *s == source).map_or(&ctx.cache_ttl, |(_, t)| t);
            format!("(cached: {ttl} TTL)")
        };
        let (c_storage, c_pools) = (cached("storage"), cached("disk_pools"));
        let (c_ss, c_ms, c_slp) = (cached("storage_servers"), cached("media_servers"), cached("slps"));
        let (c_svc, c_tape) = (cached("services"), cached("tape"));
        let window = format!("(jobs that finished in the last {})", ctx.job_window);
        let help: [String; FAMILY_COUNT] = [
            "Build information of nbu_exporter (value always 1)".into(),
            "1 if the last configuration reload succeeded (or none happened yet), else 0".into(),
            "Unix time of the last successful configuration load".into(),
            "Configuration reloads by trigger (signal, file, http) and result".into(),
            format!(
                "1 while the NetBackup site answers, else 0: turns 0 when a collection cannot reach the server or is \
                 refused its credentials, or when no request was answered for {}",
                ctx.up_window
            ),
            "1 if the latest collection of this source succeeded, 0 if it failed or is overdue".into(),
            "Unix time of the last successful collection per source; kept when later collections fail".into(),
            "The NetBackup API version in use (value always 1)".into(),
            format!("Storage unit free and used bytes {c_storage}"),
            format!("Storage unit total capacity in bytes {c_storage}"),
            format!("Storage unit capabilities, value always 1 {c_storage}"),
            format!("Maximum concurrent jobs the storage unit accepts {c_storage}"),
            format!("Maximum fragment size of the storage unit in bytes {c_storage}"),
            format!("Disk volumes of the disk pool per volume state: UP, DOWN, UNKNOWN {c_pools}"),
            format!("1 for the disk pool's current state (UP, DOWN, TRANSIENT), 0 for the others {c_pools}"),
            format!("Space of the disk pool that can be used, in bytes {c_pools}"),
            format!("Used capacity of the disk pool in bytes {c_pools}"),
            format!("Available space of the disk pool in bytes {c_pools}"),
            format!("Raw size of the disk pool's storage in bytes {c_pools}"),
            format!(
                "Used capacity of the disk pool over its usable size (0-1); compare with \
                 nbu_disk_pool_high_water_mark_ratio {c_pools}"
            ),
            format!("High water mark of the disk pool (0-1): above it the pool counts as full {c_pools}"),
            format!("Low water mark of the disk pool (0-1): image cleanup stops below it {c_pools}"),
            format!("1 if the disk pool is read-only (image sharing), else 0 {c_pools}"),
            format!("1 if the disk volume is UP, else 0 {c_pools}"),
            format!("Free space of the disk volume in bytes; not reported for cloud volumes {c_pools}"),
            format!("Total size of the disk volume in bytes; not reported for cloud volumes {c_pools}"),
            format!("1 for the storage server's current state (UP, DOWN), 0 for the others {c_ss}"),
            format!("Storage server type and NetBackup version, value always 1 {c_ss}"),
            format!("Size of the MSDP storage server's pool in bytes {c_ss}"),
            format!("Used space of the MSDP pool in bytes {c_ss}"),
            format!("Available space of the MSDP pool in bytes {c_ss}"),
            format!("Raw size of the MSDP pool in bytes {c_ss}"),
            format!("Reserved space of the MSDP pool in bytes {c_ss}"),
            format!("Used space of the MSDP pool over its size (0-1) {c_ss}"),
            format!("Deduplication ratio of the MSDP storage server as NetBackup reports it (percent) {c_ss}"),
            format!("1 if NetBackup reports the media server's machine up, else 0 {c_ms}"),
            format!(
                "1 for the media server's current status (ACTIVE_FOR_TAPE_AND_DISK, ACTIVE_FOR_TAPE, \
                 ACTIVE_FOR_DISK, OFFLINE, DEACTIVATED, VIRTUAL_NODE), 0 for the others {c_ms}"
            ),
            format!("Media server NetBackup version and OS type, value always 1 {c_ms}"),
            format!(
                "Images whose storage lifecycle (SLP) copies are not done, per SLP and slpImageState {c_slp}"
            ),
            format!(
                "Backup time of the SLP's oldest image with SLP work left; alert on time() - this > 86400 {c_slp}"
            ),
            format!("1 if the SLP's secondary operations are active, 0 if inactive {c_slp}"),
            format!("Storage lifecycle policy data classification and version, value always 1 {c_slp}"),
            format!("1 if the host's NetBackup services were read in the latest collection, else 0 {c_svc}"),
            format!("1 for the NetBackup service's current status (RUNNING, STOPPED, DISABLED), 0 for the others {c_svc}"),
            format!("Finished jobs {window}"),
            format!("Bytes transferred by finished jobs {window}"),
            format!("Finished jobs per exit status {window}"),
            format!("Files processed by finished jobs {window}"),
            format!("Jobs per state: unfinished jobs, and finished jobs {window}"),
            "Queued jobs per NetBackup queue reason code".into(),
            format!("Mean deduplication ratio in percent of finished jobs that report one {window}"),
            "Durations of jobs that reached DONE with an endTime at or after the exporter's start, each observed once \
             (cumulative since the start)"
                .into(),
            "Jobs that reached DONE with an endTime at or after the exporter's start, each counted once (jobs \
             finished before the start are the baseline)"
                .into(),
            "Bytes transferred by jobs that reached DONE with an endTime at or after the exporter's start, each \
             counted once"
                .into(),
            "Jobs held in the exporter's in-memory job store".into(),
            format!(
                "Tape drives per drive type, robot type and driveStatus (DRIVE_STATUS_UP, _DOWN, _MIXED, _DISABLED; \
                 all four present) {c_tape}"
            ),
            format!(
                "Tape drives per control mode (driveControl: DRIVE_CONTROL_AVR, DRIVE_CONTROL_DOWN, ...; every \
                 documented mode present) {c_tape}"
            ),
            format!(
                "Tape drive configuration, value always 1: media server (deviceHost), drive type, robot type and \
                 number {c_tape}"
            ),
            format!("1 if the tape drive's driveStatus is DRIVE_STATUS_UP, else 0 {c_tape}"),
            format!("1 if NetBackup marks the tape drive NEEDS CLEANING, else 0 {c_tape}"),
            format!("Device paths of the tape drive {c_tape}"),
            format!("Device paths of the tape drive whose pathStatus is PATH_STATUS_DOWN {c_tape}"),
            format!("Unix time the tape drive was last cleaned; absent when never {c_tape}"),
            format!("Tape media per volume pool, media type, robot type and mediaStatus {c_tape}"),
            format!("Tape media of the volume pool that are FROZEN {c_tape}"),
            format!("Tape media of the volume pool that are SUSPENDED {c_tape}"),
            format!("Tape media of the volume pool that are FULL {c_tape}"),
            format!("Tape media of the volume pool with a mount limit (maxMounts > 0) reached or passed {c_tape}"),
            format!(
                "Highest mounts/maxMounts among the volume pool's media with a mount limit (1 = limit reached) \
                 {c_tape}"
            ),
            format!(
                "Data media of a scratch pool (poolType SCRATCH_MEDIA_POOL) neither frozen, suspended nor full \
                 {c_tape}"
            ),
            format!("Partially full media of the tape volume pool (partiallyFullMedia) {c_tape}"),
            format!("Device hosts with robots configured {c_tape}"),
            "Time one collection of a source took, retries included".into(),
            "Failed collections by kind: transport, timeout, unauthorized, forbidden, unsupported (404), version, http, decode".into(),
            "Requests sent to NetBackup by endpoint and HTTP status (error: no answer)".into(),
            "Latency of requests to NetBackup by endpoint, body included".into(),
        ];
        let empty = (0..FAMILY_COUNT).map(|i| header_only(i, &help[i])).collect();
        Families { help: help.to_vec(), empty }
    }

    pub fn name(fam: Fam) -> &'static str {
        DEFS[fam as usize].0
    }

    /// Encodes every family, each once with the samples of all `parts` in order, then the ready-made `extra`
    /// families (process metrics).
    pub fn encode(&self, parts: &[&Samples], extra: &[MetricFamily], out: &mut Vec<u8>) {
        let encoder = prometheus::TextEncoder::new();
        for (i, (name, kind)) in DEFS.iter().enumerate() {
            let metrics: Vec<Metric> = parts.iter().flat_map(|p| p.metrics[i].iter().cloned()).collect();
            if metrics.is_empty() {
                out.extend_from_slice(&self.empty[i]);
                continue;
            }
            let family = family(name, &self.help[i], *kind, metrics);
            if let Err(e) = encoder.encode(&[family], out) {
                log::error!("cannot encode {name}: {e}");
            }
        }
        for family in extra.iter().filter(|f| !f.get_metric().is_empty()) {
            if let Err(e) = encoder.encode(std::slice::from_ref(family), out) {
                log::error!("cannot encode {}: {e}", family.name());
            }
        }
    }
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

/// The crate's HELP/TYPE lines of family `i`: its encoding with one placeholder sample, samples dropped.
fn header_only(i: usize, help: &str) -> Vec<u8> {
    let (name, kind) = DEFS[i];
    let mut text = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&[family(name, help, kind, vec![Metric::default()])], &mut text);
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').take_while(|l| l.starts_with(b"# ")).collect();
    lines.concat()
}

fn labels(pairs: &[(&str, &str)], extra: Option<(&str, &str)>) -> Vec<LabelPair> {
    pairs
        .iter()
        .copied()
        .chain(extra)
        .map(|(k, v)| {
            let mut l = LabelPair::default();
            l.set_name(k.to_string());
            l.set_value(v.to_string());
            l
        })
        .collect()
}

/// Samples of one part (a site, a source, the exporter itself), bucketed by family so parts merge under one
/// HELP/TYPE.
#[derive(Debug, Clone)]
pub struct Samples {
    metrics: Vec<Vec<Metric>>,
}

impl Default for Samples {
    fn default() -> Self {
        Samples { metrics: vec![Vec::new(); FAMILY_COUNT] }
    }
}

impl Samples {
    /// A gauge or counter sample (the family's type decides which).
    pub fn sample(&mut self, fam: Fam, pairs: &[(&str, &str)], v: f64) {
        let mut m = Metric::from_label(labels(pairs, None));
        match DEFS[fam as usize].1 {
            MetricType::COUNTER => {
                let mut c = proto::Counter::default();
                c.set_value(v);
                m.set_counter(c);
            }
            _ => {
                let mut g = proto::Gauge::default();
                g.set_value(v);
                m.set_gauge(g);
            }
        }
        self.metrics[fam as usize].push(m);
    }

    /// A histogram sample from an accumulator.
    pub fn histogram(&mut self, fam: Fam, pairs: &[(&str, &str)], h: &Histogram) {
        let mut m = Metric::from_label(labels(pairs, None));
        let mut ph = proto::Histogram::default();
        let mut cum = 0u64;
        let buckets = h
            .bounds
            .iter()
            .zip(&h.counts)
            .map(|(b, c)| {
                cum += c;
                let mut bucket = proto::Bucket::default();
                bucket.set_upper_bound(*b);
                bucket.set_cumulative_count(cum);
                bucket
            })
            .collect();
        ph.set_bucket(buckets);
        ph.set_sample_count(h.count);
        ph.set_sample_sum(h.sum);
        m.set_histogram(ph);
        self.metrics[fam as usize].push(m);
    }

    pub fn is_empty(&self) -> bool {
        self.metrics.iter().all(Vec::is_empty)
    }
}

/// A cumulative histogram accumulator with fixed bucket bounds.
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

    fn ctx() -> HelpContext {
        HelpContext { cache_ttl: "5m".into(), ttls: vec![], job_window: "1h".into(), up_window: "1m10s".into() }
    }

    #[test]
    fn merges_parts_under_one_header_escapes_and_keeps_empty_families() {
        let fams = Families::new(&ctx());
        let mut a = Samples::default();
        a.sample(Fam::Up, &[("site", "a")], 1.0);
        let mut b = Samples::default();
        b.sample(Fam::Up, &[("site", "b\"\\\n")], 0.0);
        b.sample(Fam::ApiRequests, &[("site", "b"), ("endpoint", "/ping"), ("code", "error")], 0.0);
        let mut h = Histogram::new(&[1.0, 10.0]);
        h.observe(0.5);
        h.observe(5.0);
        h.observe(50.0);
        b.histogram(Fam::JobDuration, &[("site", "b")], &h);
        let mut out = Vec::new();
        fams.encode(&[&a, &b], &[], &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("# TYPE nbu_up gauge").count(), 1);
        assert!(text.contains("nbu_up{site=\"a\"} 1\nnbu_up{site=\"b\\\"\\\\\\n\"} 0\n"), "{text}");
        assert!(text.contains("# TYPE nbu_exporter_api_requests_total counter\n"));
        assert!(text.contains("nbu_exporter_api_requests_total{site=\"b\",endpoint=\"/ping\",code=\"error\"} 0\n"));
        assert!(text.contains("nbu_job_duration_seconds_bucket{site=\"b\",le=\"10\"} 2\n"), "{text}");
        assert!(text.contains("nbu_job_duration_seconds_bucket{site=\"b\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("nbu_job_duration_seconds_sum{site=\"b\"} 55.5\n"));
        assert!(text.contains("nbu_job_duration_seconds_count{site=\"b\"} 3\n"));
        // A family without samples: HELP and TYPE only.
        let disk = text.split("# HELP nbu_disk_bytes ").nth(1).expect("nbu_disk_bytes HELP");
        let next: Vec<&str> = disk.lines().take(3).collect();
        assert!(next[1] == "# TYPE nbu_disk_bytes gauge" && next[2].starts_with("# HELP "), "{next:?}");
        assert!(!text.contains("nbu_disk_bytes{"));
    }
}
