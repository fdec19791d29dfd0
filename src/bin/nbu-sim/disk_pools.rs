//! `/storage/disk-pools`: the simulated primary's disk pools (MSDP, AdvancedDisk, cloud), one of them DOWN.

use serde_json::{json, Value};
use std::collections::BTreeMap;

const TIB: i64 = 1 << 40;

/// The disk pools as the simulator serves them (attributes of each item), `extra` AdvancedDisk pools appended.
/// Used space grows 1 MiB per second since `origin`, as the storage units' does.
pub fn disk_pools(origin: i64, now: i64, extra: usize) -> Vec<Value> {
    let grow = ((now - origin).max(0) / 1000) * 1_048_576;
    let volume = |name: &str, state: &str, raw: i64, free: i64| {
        json!({"name": name, "id": format!("vol_{name}"), "diskMediaId": format!("@aaa{}", name.len()),
               "state": state, "rawSizeBytes": raw, "freeSizeBytes": free, "isReplicationSource": false,
               "isReplicationTarget": false, "wormIndelibleMinimumInterval": 0, "wormIndelibleMaximumInterval": 0,
               "diskVolumeCapabilities": ["OptimizedImage"]})
    };
    let pool = |name: &str, s_type: &str, category: &str, state: &str, usable: i64, used: i64, volumes: Vec<Value>| {
        let used = (used + grow).min(usable);
        json!({"name": name, "sType": s_type, "storageCategory": category, "diskPoolState": state,
               "rawSizeBytes": usable + usable / 50, "usableSizeBytes": usable, "availableSpaceBytes": usable - used,
               "usedCapacityBytes": used, "highWaterMark": 98, "lowWaterMark": 80, "readOnly": false,
               "wormCapable": false, "maximumIoStreams": {"limitIoStreams": false},
               "diskPoolCapabilities": ["OptimizedImage", "InstantAccess"], "mediaServersCount": 2,
               "diskVolumes": volumes})
    };
    let mut pools = vec![
        pool(
            "dp_msdp_01",
            "PureDisk",
            "MSDP",
            "UP",
            100 * TIB,
            61 * TIB,
            vec![volume("PureDiskVolume", "UP", 102 * TIB, 39 * TIB)],
        ),
        pool(
            "dp_msdp_02",
            "PureDisk",
            "MSDP",
            "DOWN",
            50 * TIB,
            12 * TIB,
            vec![volume("PureDiskVolume", "DOWN", 51 * TIB, 38 * TIB)],
        ),
        pool(
            "dp_adv_01",
            "AdvancedDisk",
            "ADVANCED_DISK",
            "UP",
            20 * TIB,
            19 * TIB,
            vec![volume("/disk1", "UP", 10 * TIB, TIB / 2), volume("/disk2", "DOWN", 10 * TIB, TIB / 2)],
        ),
        // Cloud pools report no volume sizes and no raw size; NetBackup omits the keys.
        json!({"name": "dp_cloud_s3", "sType": "PureDisk_amazon_rawd", "storageCategory": "CLOUD",
               "diskPoolState": "UP", "usableSizeBytes": 8_796_093_022_208_i64, "usedCapacityBytes": 0,
               "availableSpaceBytes": 8_796_093_022_208_i64, "highWaterMark": 98, "lowWaterMark": 80,
               "readOnly": true, "wormCapable": true, "maximumIoStreams": {"limitIoStreams": true,
               "streamsPerVolume": 4}, "diskPoolCapabilities": ["CloudStorage"], "mediaServersCount": 1,
               "diskVolumes": [{"name": "bucket-nbu-01", "id": "vol_bucket", "diskMediaId": "@aab1",
                                "state": "UP", "isReplicationSource": false, "isReplicationTarget": false,
                                "wormIndelibleMinimumInterval": 86400, "wormIndelibleMaximumInterval": 2592000}]}),
    ];
    for i in 0..extra {
        let name = format!("dp_extra_{i:04}");
        pools.push(pool(
            &name,
            "AdvancedDisk",
            "ADVANCED_DISK",
            if i % 7 == 3 { "TRANSIENT" } else { "UP" },
            TIB,
            (i as i64 % 100) << 33,
            vec![volume(&format!("/extra{i}"), "UP", TIB, TIB / 2)],
        ));
    }
    pools
}

/// Applies the `disk_state` controls: `POOL` sets a pool's `diskPoolState`, `POOL/VOLUME` a volume's `state`.
pub fn override_states(pools: &mut [Value], states: &BTreeMap<String, String>) {
    for (what, state) in states {
        let (pool, volume) = match what.split_once('/') {
            Some((p, v)) => (p, Some(v)),
            None => (what.as_str(), None),
        };
        for p in pools.iter_mut().filter(|p| p["name"] == pool) {
            match volume {
                None => p["diskPoolState"] = json!(state),
                Some(v) => {
                    for vol in p["diskVolumes"].as_array_mut().into_iter().flatten().filter(|x| x["name"] == v) {
                        vol["state"] = json!(state);
                    }
                }
            }
        }
    }
}
