//! Tolerant models of `/storage/storage-servers` and `/config/media-servers`: every field optional, unknown
//! fields ignored.

use crate::netbackup::lenient;
use serde::Deserialize;

/// The storage-server attributes the exporter uses (`/storage/storage-servers`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageServerAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(rename = "sType", deserialize_with = "lenient::opt_string")]
    pub s_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub storage_category: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub storage_server_state: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub nbu_host_version: Option<String>,
    #[serde(deserialize_with = "lenient::opt_obj")]
    pub msdp_attributes: Option<MsdpAttributes>,
}

/// `msdpAttributes` of an MSDP storage server.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MsdpAttributes {
    #[serde(deserialize_with = "lenient::opt_obj")]
    pub storage_pool_details: Option<StoragePoolDetails>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub deduplication_ratio_percentage: Option<f64>,
    #[serde(rename = "catalogLogicalSizeBytes", deserialize_with = "lenient::opt_f64")]
    pub catalog_logical_size_bytes: Option<f64>,
}

/// `msdpAttributes.storagePoolDetails`: the MSDP pool's capacity in bytes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoragePoolDetails {
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub raw_size_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub reserved_space_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub size_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub used_space_bytes: Option<f64>,
    #[serde(deserialize_with = "lenient::opt_f64")]
    pub available_space_bytes: Option<f64>,
}

/// The media-server attributes the exporter uses (`/config/media-servers`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaServerAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub host_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub os_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub nbu_version: Option<String>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub is_machine_up: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_obj")]
    pub status: Option<HostStatus>,
}

/// `status` of a media server: `{name: ACTIVE_FOR_TAPE_AND_DISK | … | OFFLINE, resourceBundleKey}`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HostStatus {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netbackup::models::Page;

    #[test]
    fn tolerates_odd_shapes() {
        let page: Page<StorageServerAttributes> = serde_json::from_str(
            r#"{"data":[{"type":"storageServer","id":"PureDisk:a","attributes":{"name":"a","storageServerState":"UP",
                "msdpAttributes":{"storagePoolDetails":{"sizeBytes":10.0,"usedSpaceBytes":"3"},"deduplicationRatioPercentage":7},
                "newField":{"x":1}}},
               {"type":"storageServer","id":"b","attributes":{"name":"b","msdpAttributes":"n/a"}}]}"#,
        )
        .unwrap();
        let data = page.data.unwrap();
        let details = data[0].attributes.as_ref().unwrap().msdp_attributes.as_ref().unwrap();
        assert_eq!(details.storage_pool_details.as_ref().unwrap().used_space_bytes, Some(3.0));
        assert_eq!(details.deduplication_ratio_percentage, Some(7.0));
        assert!(data[1].attributes.as_ref().unwrap().msdp_attributes.is_none(), "a non-object is absent");
        let page: Page<MediaServerAttributes> = serde_json::from_str(
            r#"{"data":[{"id":"m","attributes":{"hostName":"m","isMachineUp":1,"status":{"name":"OFFLINE"}}},
                        {"id":"n","attributes":{"hostName":"n","status":null}}]}"#,
        )
        .unwrap();
        let data = page.data.unwrap();
        assert_eq!(data[0].attributes.as_ref().unwrap().is_machine_up, Some(true));
        assert_eq!(data[0].attributes.as_ref().unwrap().status.as_ref().unwrap().name.as_deref(), Some("OFFLINE"));
        assert!(data[1].attributes.as_ref().unwrap().status.is_none());
    }
}
