//! Tolerant models of the tape endpoints: `/storage/drives`, `/storage/tape-media`, `/storage/tape-volume-pools`.
//!
//! Field names are the specs' (10.3-11.0 `storage.yaml`); every field is optional and unknown fields are ignored.
//! `/storage/robots-device-hosts` items carry only `type` and `id` (the host name), read with [`Page`]`<`[`Empty`]`>`.
//!
//! [`Page`]: super::Page

use super::super::lenient;
use serde::Deserialize;

/// The drive attributes the exporter uses (`/storage/drives`, item `type: drive`, `id` = drive name).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DriveAttributes {
    /// Not an attribute: the item's `id` (the drive name), filled in by the collector.
    #[serde(skip)]
    pub name: Option<String>,
    /// `DT_HCART`, `DT_DLT`, `DT_HCART2`, `DT_DLT2`, `DT_HCART3`, `DT_DLT3`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub drive_type: Option<String>,
    /// `NA`, `NOT_ROBOTIC`, `ACS`, `TLD`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub robot_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub robot_number: Option<i64>,
    /// `DRIVE_STATUS_UP`, `DRIVE_STATUS_DOWN`, `DRIVE_STATUS_MIXED`, `DRIVE_STATUS_DISABLED`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub drive_status: Option<String>,
    /// The control mode: `DRIVE_CONTROL_AVR`, `DRIVE_CONTROL_DOWN`, … (13 values).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub drive_control: Option<String>,
    /// `"NEEDS CLEANING"` when the drive needs cleaning.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub cleaning_comment: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub last_cleaning_time: Option<String>,
    /// The device host where the robot is defined, or `<multiple>`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub device_host: Option<String>,
    #[serde(deserialize_with = "lenient::opt_list")]
    pub device_paths: Option<Vec<DevicePath>>,
}

/// One path to a drive.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DevicePath {
    /// `PATH_STATUS_UP`, `PATH_STATUS_DOWN`, `PATH_STATUS_DISABLED`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub path_status: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub device_host: Option<String>,
}

/// The tape-media attributes the exporter uses (`/storage/tape-media`, item `type: volumeInfo`, `id` = media
/// ID, which the exporter never keeps).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TapeMediaAttributes {
    /// `HCART`, `HCART2`, `HC_CLN`, … (cleaning media end in `_CLN`).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub media_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub volume_pool: Option<String>,
    /// One of `FROZEN, SUSPENDED, FULL, MULTIPLE_RETENTION_LEVELS, IMPORTED, ACTIVE, MULTIPLEXED, WORM, BE` or a
    /// combination (`"ACTIVE MULTIPLEXED"`).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub media_status: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub mounts: Option<i64>,
    /// 0 = unlimited.
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub max_mounts: Option<i64>,
    #[serde(deserialize_with = "lenient::opt_obj")]
    pub robot: Option<MediaRobot>,
}

/// The robot a medium is in (the nested `robot` object of a tape medium).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaRobot {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub robot_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub robot_number: Option<i64>,
}

/// The volume-pool attributes the exporter uses (`/storage/tape-volume-pools`, item `type: volumePoolDetails`,
/// `id` = pool number).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumePoolAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub volume_pool_name: Option<String>,
    /// `REGULAR_MEDIA_POOL`, `SCRATCH_MEDIA_POOL`, `CATALOG_MEDIA_POOL`, `AVAILABLE_MEDIA_POOL`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub pool_type: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub partially_full_media: Option<i64>,
}

/// Items without attributes the exporter reads (robot device hosts: only `id`).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::super::Page;
    use super::*;

    #[test]
    fn tolerates_messy_drives() {
        let page: Page<DriveAttributes> = serde_json::from_str(
            r#"{"data":[
              {"type":"drive","id":"HP.ULTRIUM6-SCSI.000","attributes":{"driveType":"DT_HCART3","robotType":"TLD",
                "robotNumber":"0","driveStatus":"DRIVE_STATUS_UP","driveControl":"DRIVE_CONTROL_AVR",
                "cleaningComment":"NEEDS CLEANING","lastCleaningTime":"2026-01-01T00:00:00.000Z","new":{"x":1},
                "devicePaths":[{"devicePath":"/dev/nst0","pathStatus":"PATH_STATUS_DOWN"},3,{"pathStatus":null}]}},
              {"type":"drive","id":"d2","attributes":{"robotNumber":1.0,"devicePaths":"none","cleaningComment":""}}
            ],"meta":{"pagination":{"count":2,"offset":0,"last":0,"limit":100}}}"#,
        )
        .unwrap();
        let data = page.data.unwrap();
        let a = data[0].attributes.as_ref().unwrap();
        assert_eq!((a.robot_number, a.drive_status.as_deref()), (Some(0), Some("DRIVE_STATUS_UP")));
        let paths = a.device_paths.as_ref().unwrap();
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[0].path_status.as_deref(), Some("PATH_STATUS_DOWN"));
        let b = data[1].attributes.as_ref().unwrap();
        assert_eq!((b.robot_number, b.device_paths.is_none(), b.cleaning_comment.is_none()), (Some(1), true, true));
    }

    #[test]
    fn tolerates_messy_media_and_pools() {
        let page: Page<TapeMediaAttributes> = serde_json::from_str(
            r#"{"data":[
              {"type":"volumeInfo","id":"A00001","attributes":{"mediaType":"HCART3","volumePool":"NetBackup",
                "mediaStatus":"ACTIVE MULTIPLEXED","mounts":"12","maxMounts":0,"kiloBytes":1.5e9,
                "robot":{"robotType":"TLD","robotNumber":0,"robotHost":"h"}}},
              {"type":"volumeInfo","id":"A00002","attributes":{"robot":"none","mounts":null}}
            ],"meta":{"pagination":{"limit":100,"next":"A00002"}},
            "links":{"pagination":{"next":{"href":"x"}}}}"#,
        )
        .unwrap();
        let data = page.data.unwrap();
        let a = data[0].attributes.as_ref().unwrap();
        assert_eq!((a.mounts, a.max_mounts), (Some(12), Some(0)));
        assert_eq!(a.robot.as_ref().and_then(|r| r.robot_type.as_deref()), Some("TLD"));
        // A `robot` that is not an object is no robot, not a failed page.
        assert!(data[1].attributes.as_ref().unwrap().robot.is_none());
        assert_eq!(page.meta.unwrap().pagination.unwrap().next.as_deref(), Some("A00002"));
        let pools: Page<VolumePoolAttributes> = serde_json::from_str(
            r#"{"data":[{"type":"volumePoolDetails","id":"4","attributes":{"volumePoolName":"scratch_pool",
              "poolType":"SCRATCH_MEDIA_POOL","partiallyFullMedia":2.0,"description":"d"}}]}"#,
        )
        .unwrap();
        let p = pools.data.unwrap().remove(0).attributes.unwrap();
        assert_eq!((p.pool_type.as_deref(), p.partially_full_media), (Some("SCRATCH_MEDIA_POOL"), Some(2)));
        let hosts: Page<Empty> =
            serde_json::from_str(r#"{"data":[{"id":"hostname1.com","type":"deviceHost"}]}"#).unwrap();
        assert_eq!(hosts.data.unwrap()[0].id.as_deref(), Some("hostname1.com"));
    }
}
