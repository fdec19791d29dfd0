//! Tolerant models of `/config/hosts` (not JSON:API: `{"hosts": [...]}`) and `/admin/hosts/{hostId}/services`.

use crate::netbackup::lenient;
use serde::Deserialize;

/// The answer of `/config/hosts`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HostsAnswer {
    #[serde(deserialize_with = "lenient::opt_list")]
    pub hosts: Option<Vec<HostAttributes>>,
}

/// The host attributes the exporter uses.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HostAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub uuid: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub host_name: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub nbu_host_type: Option<String>,
}

/// One NetBackup service (daemon) of a host; the item id is the service's name.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceAttributes {
    #[serde(deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub display_name: Option<String>,
}
