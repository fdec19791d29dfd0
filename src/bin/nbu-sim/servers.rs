//! `/storage/storage-servers` and `/config/media-servers`: the simulated primary's storage servers (MSDP with pool
//! details, AdvancedDisk, cloud, OpenStorage; one DOWN) and media servers (one OFFLINE and down, one DEACTIVATED).

use serde_json::{json, Value};
use std::collections::BTreeMap;

const TIB: i64 = 1 << 40;

/// The storage servers as the simulator serves them (attributes of each item), `extra` AdvancedDisk servers
/// appended. MSDP used space grows 1 MiB per second since `origin`.
pub fn storage_servers(origin: i64, now: i64, extra: usize) -> Vec<Value> {
    let grow = ((now - origin).max(0) / 1000) * 1_048_576;
    let common = |name: &str, s_type: &str, category: &str, state: &str| {
        json!({"name": name, "sType": s_type, "storageCategory": category, "storageServerState": state,
               "nbuHostVersion": "10.4.0.1", "encryptionEnabled": true, "kmsEnabled": false,
               "isSnapshotSupported": false, "isAcceleratorSupported": true, "isAIRSupported": true,
               "isWormSupported": false, "isUshareSupported": false,
               "storageServerCapabilities": ["OptimizedImage"], "storageUnits": [format!("stu_{name}")],
               "additionalMediaServersDetails": [{"name": "nbu-media01.example.com", "operatingSystem": "linux",
                                                  "netbackupVersion": "10.4.0.1"}]})
    };
    let msdp = |name: &str, state: &str, size: i64, used: i64, dedup: f64| {
        let used = (used + grow).min(size);
        let mut s = common(name, "PureDisk", "MSDP", state);
        s["msdpAttributes"] = json!({"storagePath": "/msdp/data", "spaLogPath": "/msdp/log",
            "deduplicationDBPath": "/msdp/db", "specificNetworkInterface": "", "spaLogRetention": 30,
            "verboseLevel": 3, "fipsEnabled": false, "catalogLogicalSizeBytes": used * 9, "catalogFilesCount": 123_456,
            "deduplicationRatioPercentage": dedup,
            "storagePoolDetails": {"rawSizeBytes": size + size / 50, "reservedSpaceBytes": size / 100,
                                   "sizeBytes": size, "usedSpaceBytes": used, "availableSpaceBytes": size - used}});
        s
    };
    let mut servers = vec![
        msdp("msdp-primary.example.com", "UP", 100 * TIB, 61 * TIB, 92.4),
        // Integer where a float is documented, as real servers send it.
        msdp("msdp-dr.example.com", "DOWN", 50 * TIB, 12 * TIB, 88.0),
        common("adv01.example.com", "AdvancedDisk", "ADVANCED_DISK", "UP"),
        common("s3-cloud.example.com", "PureDisk_amazon_rawd", "CLOUD", "UP"),
        common("dd01.example.com", "DataDomain", "OPEN_STORAGE", "UP"),
    ];
    // Version omitted (empty strings are left out by NetBackup).
    if let Some(o) = servers[4].as_object_mut() {
        o.remove("nbuHostVersion");
    }
    for i in 0..extra {
        servers.push(common(&format!("adv-extra-{i:04}.example.com"), "AdvancedDisk", "ADVANCED_DISK", "UP"));
    }
    servers
}

/// The media servers as the simulator serves them, `extra` ones appended.
pub fn media_servers(extra: usize) -> Vec<Value> {
    let server = |name: &str, status: &str, up: Option<bool>, version: &str| {
        let mut s = json!({"hostName": name, "osType": "linux", "osVersion": "Red Hat Enterprise Linux 8.9",
               "osReleaseVersion": "8.9", "nbuVersion": version, "dteMode": "OFF", "uuid": format!("uuid-{name}"),
               "fiberTransportEnabled": false, "fiberTransportState": "DISABLED",
               "supportedStoragesInfo": [{"storageProviderId": "msdp", "storageCategory": "MSDP"}],
               "status": {"name": status, "resourceBundleKey": format!("host.status.{}", status.to_lowercase())}});
        if let Some(up) = up {
            s["isMachineUp"] = json!(up);
        }
        s
    };
    let mut servers = vec![
        server("nbu-media01.example.com", "ACTIVE_FOR_TAPE_AND_DISK", Some(true), "10.4.0.1"),
        server("nbu-media02.example.com", "ACTIVE_FOR_DISK", Some(true), "10.4.0.1"),
        server("nbu-media03.example.com", "ACTIVE_FOR_TAPE", Some(true), "10.3"),
        server("nbu-media04.example.com", "OFFLINE", Some(false), "10.4.0.1"),
        server("nbu-media05.example.com", "DEACTIVATED", Some(true), "9.1"),
        // isMachineUp is optional in the spec.
        server("nbu-media06.example.com", "ACTIVE_FOR_DISK", None, "10.5"),
    ];
    for i in 0..extra {
        servers.push(server(&format!("media-extra-{i:04}.example.com"), "ACTIVE_FOR_DISK", Some(true), "10.4.0.1"));
    }
    servers
}

/// Applies the `server_state` controls (`NAME:STATE`): a storage server's `storageServerState`, or a media
/// server's `status.name` (`OFFLINE` also sets `isMachineUp` false, any other status true).
pub fn override_states(storage: &mut [Value], media: &mut [Value], states: &BTreeMap<String, String>) {
    for (name, state) in states {
        for s in storage.iter_mut().filter(|s| s["name"] == name.as_str()) {
            s["storageServerState"] = json!(state);
        }
        for m in media.iter_mut().filter(|m| m["hostName"] == name.as_str()) {
            m["status"]["name"] = json!(state);
            m["isMachineUp"] = json!(state != "OFFLINE");
        }
    }
}
