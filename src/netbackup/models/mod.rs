//! Tolerant models of the NetBackup JSON:API responses the exporter reads: every field optional, unknown fields ignored.

use super::lenient;
use serde::Deserialize;

mod servers;
pub use servers::{HostStatus, MediaServerAttributes, MsdpAttributes, StoragePoolDetails, StorageServerAttributes};
mod slp;
pub use slp::{SlpAttributes, SlpImageAttributes};
mod services;
pub use services::{HostAttributes, HostsAnswer, ServiceAttributes};
pub mod tape;

pub use tape::{DevicePath, DriveAttributes, Empty, MediaRobot, TapeMediaAttributes, VolumePoolAttributes};

/// One page of a JSON:API list response.
#[derive(Debug, Deserialize)]
pub struct Page<A> {
    #[serde(default = "Option::default")]
    pub data: Option<Vec<Item<A>>>,
    #[serde(default)]
    pub meta: Option<Meta>,
}

#[derive(Debug, Deserialize)]
pub struct Item<A> {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default = "Option::default")]
    pub attributes: Option<A>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// Both pagination styles: offset pages carry integers, cursor pages a string `next`.
#[derive(Debug, Default, Deserialize)]
pub struct Pagination {
    /// Cursor style: the cursor to send as `page[after]`; offset style: the next offset.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub next: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub offset: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub last: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub limit: Option<i64>,
}

/// The job attributes the exporter uses (of ~77); the rest are skipped while parsing, never stored.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobAttributes {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub job_id: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub parent_job_id: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub job_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub policy_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub status: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub kilobytes_transferred: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub number_of_files: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub dedup_ratio: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub job_queue_reason: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub start_time: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub end_time: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub last_update_time: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub elapsed_time: Option<String>,
}

/// The storage-unit attributes the exporter uses.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageUnitAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub storage_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub storage_sub_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub storage_server_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub storage_category: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub free_capacity_bytes: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub used_capacity_bytes: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub total_capacity_bytes: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub max_concurrent_jobs: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub max_fragment_size_megabytes: Option<i64>,
    #[serde(rename = "isCloudSTU", deserialize_with = "lenient::opt_bool")]
    pub is_cloud_stu: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub worm_capable: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub use_worm: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub replication_capable: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub instant_access_enabled: Option<bool>,
}

/// The disk-pool attributes the exporter uses (`/storage/disk-pools`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DiskPoolAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(rename = "sType", deserialize_with = "lenient::opt_string")]
    pub s_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub storage_category: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub disk_pool_state: Option<String>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub raw_size_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub usable_size_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub available_space_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub used_capacity_bytes: Option<f64>,
    /// Percent.
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub high_water_mark: Option<f64>,
    /// Percent.
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub low_water_mark: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub read_only: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_list")]
    pub disk_volumes: Option<Vec<DiskVolume>>,
}

/// One disk volume of a disk pool.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DiskVolume {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub raw_size_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub free_size_bytes: Option<f64>,
}

/// NetBackup's error envelope: `{"errorCode": 8952, "errorMessage": "…", …}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorEnvelope {
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub error_code: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_messy_jobs() {
        let page: Page<JobAttributes> = serde_json::from_str(
            r#"{"data":[
              {"type":"job","id":"12","attributes":{"jobId":12,"state":"ACTIVE","kilobytesTransferred":1024.0,
                "dedupRatio":99.4,"endTime":"1970-01-01T00:00:00.000Z","brandNewField":{"x":[1,2]}}},
              {"type":"job","id":"13","attributes":{"jobId":"13","status":null,"dedupRatio":100,"policyType":""}},
              {"type":"job","id":"14"}
            ],"meta":{"pagination":{"next":"1783591866000:812692","limit":10}}}"#,
        )
        .unwrap();
        let data = page.data.unwrap();
        assert_eq!(data.len(), 3);
        let a = data[0].attributes.as_ref().unwrap();
        assert_eq!((a.job_id, a.status, a.kilobytes_transferred), (Some(12), None, Some(1024)));
        let b = data[1].attributes.as_ref().unwrap();
        assert_eq!((b.job_id, b.status, b.dedup_ratio, b.policy_type.as_deref()), (Some(13), None, Some(100.0), None));
        assert!(data[2].attributes.is_none());
        let p = page.meta.unwrap().pagination.unwrap();
        assert_eq!(p.next.as_deref(), Some("1783591866000:812692"));
    }

    #[test]
    fn offset_pagination_integers() {
        let page: Page<StorageUnitAttributes> = serde_json::from_str(
            r#"{"data":null,"meta":{"pagination":{"count":3,"offset":0,"last":0,"limit":500,"next":500}}}"#,
        )
        .unwrap();
        assert!(page.data.is_none());
        let p = page.meta.unwrap().pagination.unwrap();
        assert_eq!((p.count, p.next.as_deref()), (Some(3), Some("500")));
    }

    #[test]
    fn tolerates_messy_disk_pools() {
        let page: Page<DiskPoolAttributes> = serde_json::from_str(
            r#"{"data":[
              {"type":"diskPool","id":"PureDisk_dp1","attributes":{"name":"dp1","sType":"PureDisk",
                "storageCategory":"MSDP","diskPoolState":"UP","usableSizeBytes":1.5e12,"usedCapacityBytes":"500",
                "highWaterMark":98,"readOnly":0,"newThing":[1],
                "diskVolumes":[{"name":"v1","state":"UP","freeSizeBytes":10},7,"x",{"name":"v2","state":"DOWN"}]}},
              {"type":"diskPool","id":"x","attributes":{"name":"dp2","diskVolumes":"none","highWaterMark":null}}
            ]}"#,
        )
        .unwrap();
        let data = page.data.unwrap();
        let a = data[0].attributes.as_ref().unwrap();
        assert_eq!(
            (a.usable_size_bytes, a.used_capacity_bytes, a.high_water_mark),
            (Some(1.5e12), Some(500.0), Some(98.0))
        );
        assert_eq!(a.read_only, Some(false));
        let v = a.disk_volumes.as_ref().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].name.as_deref(), v[0].free_size_bytes), (Some("v1"), Some(10.0)));
        assert_eq!(v[1].state.as_deref(), Some("DOWN"));
        let b = data[1].attributes.as_ref().unwrap();
        assert!(b.disk_volumes.is_none() && b.high_water_mark.is_none());
    }
}
