//! Tolerant models of `/catalog/slp-images` and `/config/slps`: every field optional, unknown fields ignored.

use crate::netbackup::lenient;
use serde::Deserialize;

/// The SLP-image attributes the exporter uses (`/catalog/slp-images`); the copies and fragments are skipped.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlpImageAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub slp_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub slp_image_state: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub backup_time: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub backup_id: Option<String>,
}

/// The storage-lifecycle-policy attributes the exporter uses (`/config/slps`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SlpAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub slp_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_bool")]
    pub active: Option<bool>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub data_classification: Option<String>,
    #[serde(deserialize_with = "lenient::opt_i64")]
    pub version_number: Option<i64>,
}
