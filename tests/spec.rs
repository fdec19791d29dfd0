//! The models against the vendor OpenAPI specs (in ../shared, not in this repository): for every release whose
//! spec has the endpoint, an answer built from the spec's own response schema parses, and every field the
//! exporter reads is found under the name the spec gives it.

use nbu_exporter::netbackup::models::{
    DiskPoolAttributes, DriveAttributes, Empty, MediaServerAttributes, Page, SlpAttributes, SlpImageAttributes,
    StorageServerAttributes, StorageUnitAttributes, TapeMediaAttributes, VolumePoolAttributes,
};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

fn spec_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/netbackup/openapi");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: {} does not exist; the spec test needs ../shared beside the checkout", dir.display());
        None
    }
}

/// YAML → JSON, keys as strings (the specs' response codes are YAML integers).
fn to_json(v: serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => json!(b),
        serde_yaml::Value::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        serde_yaml::Value::String(s) => json!(s),
        serde_yaml::Value::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        serde_yaml::Value::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        serde_yaml::Value::String(s) => s,
                        other => serde_yaml::to_string(&other).unwrap().trim().to_string(),
                    };
                    (k, to_json(v))
                })
                .collect(),
        ),
        serde_yaml::Value::Tagged(t) => to_json(t.value),
    }
}

/// An instance of `schema` with every property present: the first enum value or a typed placeholder.
fn instance(spec: &Value, schema: &Value, depth: usize) -> Value {
    assert!(depth < 20, "schema nesting too deep");
    if let Some(r) = schema["$ref"].as_str() {
        let Some(name) = r.strip_prefix("#/components/schemas/") else {
            return Value::Null; // another file's schema (common.yaml): not needed for the fields we read
        };
        return instance(spec, &spec["components"]["schemas"][name], depth + 1);
    }
    // Composition: every alternative of a oneOf/anyOf is merged in, so each field the spec can send appears.
    let parts: Vec<&Value> =
        ["allOf", "oneOf", "anyOf"].iter().filter_map(|k| schema[*k].as_array()).flatten().collect();
    if !parts.is_empty() {
        let mut out = Map::new();
        let own = Value::Object(
            schema
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| !k.ends_with("Of"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        for s in parts.into_iter().chain([&own]) {
            if let Value::Object(m) = instance(spec, s, depth + 1) {
                out.extend(m);
            }
        }
        return Value::Object(out);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str() {
        Some("object") | None if schema["properties"].is_object() => Value::Object(
            schema["properties"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, s)| (k.clone(), instance(spec, s, depth + 1)))
                .collect(),
        ),
        Some("array") => json!([instance(spec, &schema["items"], depth + 1)]),
        Some("integer") => json!(7),
        Some("number") => json!(7.5),
        Some("boolean") => json!(true),
        Some("string") if schema["format"] == "date-time" => json!("2026-01-01T00:00:00.000Z"),
        Some("string") => json!("x"),
        _ => Value::Null,
    }
}

/// The spec's example answer of `GET path` in every release that has it, with the release's name.
fn answers(file: &str, path: &str) -> Vec<(String, String)> {
    let Some(dir) = spec_dir() else { return Vec::new() };
    let mut out = Vec::new();
    let mut releases: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    releases.sort();
    for release in releases {
        let Ok(text) = std::fs::read_to_string(release.join(file)) else { continue };
        let spec = to_json(serde_yaml::from_str(&text).unwrap());
        let ok = &spec["paths"][path]["get"]["responses"]["200"]["content"];
        let Some((_, media)) = ok.as_object().and_then(|m| m.iter().next()) else { continue };
        let body = instance(&spec, &media["schema"], 0);
        let name = release.file_name().unwrap().to_string_lossy().to_string();
        out.push((name, serde_json::to_string(&body).unwrap()));
    }
    out
}

#[test]
fn disk_pool_fields_have_the_names_the_specs_give_them() {
    let answers = answers("storage.yaml", "/storage/disk-pools");
    if spec_dir().is_some() {
        assert!(answers.len() >= 3, "disk pools should be in the 10.3-11.0 storage specs: {}", answers.len());
    }
    for (release, body) in answers {
        let page: Page<DiskPoolAttributes> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        let read = [
            ("name", a.name.is_some()),
            ("sType", a.s_type.is_some()),
            ("storageCategory", a.storage_category.is_some()),
            ("diskPoolState", a.disk_pool_state.is_some()),
            ("rawSizeBytes", a.raw_size_bytes.is_some()),
            ("usableSizeBytes", a.usable_size_bytes.is_some()),
            ("availableSpaceBytes", a.available_space_bytes.is_some()),
            ("usedCapacityBytes", a.used_capacity_bytes.is_some()),
            ("highWaterMark", a.high_water_mark.is_some()),
            ("lowWaterMark", a.low_water_mark.is_some()),
            ("readOnly", a.read_only.is_some()),
            ("diskVolumes", a.disk_volumes.as_ref().is_some_and(|v| v.len() == 1)),
        ];
        for (field, found) in read {
            assert!(found, "{release}: disk pool attribute {field} not read from {body}");
        }
        let v = &a.disk_volumes.unwrap()[0];
        for (field, found) in [
            ("name", v.name.is_some()),
            ("state", v.state.is_some()),
            ("rawSizeBytes", v.raw_size_bytes.is_some()),
            ("freeSizeBytes", v.free_size_bytes.is_some()),
        ] {
            assert!(found, "{release}: disk volume attribute {field} not read from {body}");
        }
    }
}

#[test]
fn storage_unit_fields_have_the_names_the_specs_give_them() {
    let answers = answers("storage.yaml", "/storage/storage-units");
    if spec_dir().is_some() {
        assert!(answers.len() >= 3, "storage units should be in the 10.3-11.0 storage specs: {}", answers.len());
    }
    for (release, body) in answers {
        let page: Page<StorageUnitAttributes> =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        for (field, found) in [
            ("name", a.name.is_some()),
            ("storageType", a.storage_type.is_some()),
            ("storageSubType", a.storage_sub_type.is_some()),
            ("storageServerType", a.storage_server_type.is_some()),
            ("storageCategory", a.storage_category.is_some()),
            ("freeCapacityBytes", a.free_capacity_bytes.is_some()),
            ("usedCapacityBytes", a.used_capacity_bytes.is_some()),
            ("totalCapacityBytes", a.total_capacity_bytes.is_some()),
            ("maxConcurrentJobs", a.max_concurrent_jobs.is_some()),
            ("maxFragmentSizeMegabytes", a.max_fragment_size_megabytes.is_some()),
            ("isCloudSTU", a.is_cloud_stu.is_some()),
            ("wormCapable", a.worm_capable.is_some()),
            ("useWorm", a.use_worm.is_some()),
            ("replicationCapable", a.replication_capable.is_some()),
            ("instantAccessEnabled", a.instant_access_enabled.is_some()),
        ] {
            assert!(found, "{release}: storage unit attribute {field} not read from {body}");
        }
    }
}

#[test]
fn storage_server_fields_have_the_names_the_specs_give_them() {
    let answers = answers("storage.yaml", "/storage/storage-servers");
    if spec_dir().is_some() {
        assert!(answers.len() >= 3, "storage servers should be in the 10.3-11.0 storage specs: {}", answers.len());
    }
    for (release, body) in answers {
        let page: Page<StorageServerAttributes> =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        let msdp = a.msdp_attributes.clone().unwrap_or_default();
        let pool = msdp.storage_pool_details.clone().unwrap_or_default();
        for (field, found) in [
            ("name", a.name.is_some()),
            ("sType", a.s_type.is_some()),
            ("storageCategory", a.storage_category.is_some()),
            ("storageServerState", a.storage_server_state.is_some()),
            ("nbuHostVersion", a.nbu_host_version.is_some()),
            ("msdpAttributes", a.msdp_attributes.is_some()),
            ("msdpAttributes.deduplicationRatioPercentage", msdp.deduplication_ratio_percentage.is_some()),
            ("msdpAttributes.storagePoolDetails", msdp.storage_pool_details.is_some()),
            ("storagePoolDetails.sizeBytes", pool.size_bytes.is_some()),
            ("storagePoolDetails.usedSpaceBytes", pool.used_space_bytes.is_some()),
            ("storagePoolDetails.availableSpaceBytes", pool.available_space_bytes.is_some()),
            ("storagePoolDetails.rawSizeBytes", pool.raw_size_bytes.is_some()),
            ("storagePoolDetails.reservedSpaceBytes", pool.reserved_space_bytes.is_some()),
        ] {
            assert!(found, "{release}: storage server attribute {field} not read from {body}");
        }
    }
}

#[test]
fn media_server_fields_have_the_names_the_specs_give_them() {
    // 10.5 and later put the schema in config_snapshotProviders.yaml, which the bundles lack: those are skipped.
    let answers: Vec<_> =
        answers("config.yaml", "/config/media-servers").into_iter().filter(|(_, body)| body != "null").collect();
    if spec_dir().is_some() {
        assert!(answers.len() >= 2, "media servers should be in the 10.3 and 10.4 config specs: {}", answers.len());
    }
    for (release, body) in answers {
        let page: Page<MediaServerAttributes> =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        for (field, found) in [
            ("hostName", a.host_name.is_some()),
            ("osType", a.os_type.is_some()),
            ("nbuVersion", a.nbu_version.is_some()),
            ("isMachineUp", a.is_machine_up.is_some()),
            ("status.name", a.status.as_ref().is_some_and(|s| s.name.is_some())),
        ] {
            assert!(found, "{release}: media server attribute {field} not read from {body}");
        }
    }
}

#[test]
fn slp_fields_have_the_names_the_specs_give_them() {
    let images = answers("catalog.yaml", "/catalog/slp-images");
    let slps: Vec<_> = answers("config.yaml", "/config/slps").into_iter().filter(|(_, b)| b != "null").collect();
    if spec_dir().is_some() {
        assert!(images.len() >= 5, "SLP images should be in the 10.3-11.2 catalog specs: {}", images.len());
        assert!(slps.len() >= 2, "SLPs should be in the config specs: {}", slps.len());
    }
    for (release, body) in images {
        let page: Page<SlpImageAttributes> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        for (field, found) in [
            ("slpName", a.slp_name.is_some()),
            ("slpImageState", a.slp_image_state.is_some()),
            ("backupTime", a.backup_time.is_some()),
            ("backupId", a.backup_id.is_some()),
        ] {
            assert!(found, "{release}: SLP image attribute {field} not read from {body}");
        }
    }
    for (release, body) in slps {
        let page: Page<SlpAttributes> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        for (field, found) in [
            ("slpName", a.slp_name.is_some()),
            ("active", a.active.is_some()),
            ("dataClassification", a.data_classification.is_some()),
            ("versionNumber", a.version_number.is_some()),
        ] {
            assert!(found, "{release}: SLP attribute {field} not read from {body}");
        }
    }
}

/// `(release, body)` answers of `path` in every release's storage spec, at least `min` of them when the specs
/// are there.
fn storage_answers(path: &str, min: usize) -> Vec<(String, String)> {
    let answers = answers("storage.yaml", path);
    if spec_dir().is_some() {
        assert!(answers.len() >= min, "{path} should be in at least {min} storage specs: {}", answers.len());
    }
    answers
}

fn assert_read(release: &str, what: &str, body: &str, read: &[(&str, bool)]) {
    for (field, found) in read {
        assert!(found, "{release}: {what} attribute {field} not read from {body}");
    }
}

#[test]
fn tape_drive_fields_have_the_names_the_specs_give_them() {
    // 10.3, 10.4, 10.5, 11.0.
    for (release, body) in storage_answers("/storage/drives", 4) {
        let page: Page<DriveAttributes> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let item = page.data.unwrap().remove(0);
        assert!(item.id.is_some(), "{release}: the drive name is the item id");
        let a = item.attributes.unwrap();
        let paths = a.device_paths.clone().unwrap_or_default();
        assert_read(
            &release,
            "drive",
            &body,
            &[
                ("driveType", a.drive_type.is_some()),
                ("robotType", a.robot_type.is_some()),
                ("robotNumber", a.robot_number.is_some()),
                ("driveStatus", a.drive_status.is_some()),
                ("driveControl", a.drive_control.is_some()),
                ("cleaningComment", a.cleaning_comment.is_some()),
                ("lastCleaningTime", a.last_cleaning_time.is_some()),
                ("deviceHost", a.device_host.is_some()),
                ("devicePaths[].pathStatus", paths.len() == 1 && paths[0].path_status.is_some()),
            ],
        );
        let p = page.meta.and_then(|m| m.pagination).expect("offset pagination");
        assert!(p.count.is_some() && p.last.is_some(), "{release}: offset pagination not read from {body}");
    }
}

#[test]
fn tape_media_and_pool_fields_have_the_names_the_specs_give_them() {
    // 10.4, 10.5, 11.0 (10.3 has neither endpoint).
    for (release, body) in storage_answers("/storage/tape-media", 3) {
        let page: Page<TapeMediaAttributes> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        let robot = a.robot.clone().unwrap_or_default();
        assert_read(
            &release,
            "tape media",
            &body,
            &[
                ("mediaType", a.media_type.is_some()),
                ("volumePool", a.volume_pool.is_some()),
                ("mediaStatus", a.media_status.is_some()),
                ("mounts", a.mounts.is_some()),
                ("maxMounts", a.max_mounts.is_some()),
                ("robot.robotType", robot.robot_type.is_some()),
                ("robot.robotNumber", robot.robot_number.is_some()),
            ],
        );
        cursor_next_is_read(&release, &body, page.meta);
    }
    for (release, body) in storage_answers("/storage/tape-volume-pools", 3) {
        let page: Page<VolumePoolAttributes> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        let a = page.data.unwrap().remove(0).attributes.unwrap();
        assert_read(
            &release,
            "volume pool",
            &body,
            &[
                ("volumePoolName", a.volume_pool_name.is_some()),
                ("poolType", a.pool_type.is_some()),
                ("partiallyFullMedia", a.partially_full_media.is_some()),
            ],
        );
        cursor_next_is_read(&release, &body, page.meta);
    }
}

/// The cursor walk follows `meta.pagination.next`; 10.4 declares the pagination in common.yaml (not in the
/// bundle), so only the releases that inline it are checked.
fn cursor_next_is_read(release: &str, body: &str, meta: Option<nbu_exporter::netbackup::models::Meta>) {
    let v: Value = serde_json::from_str(body).unwrap();
    if v["meta"]["pagination"].is_object() {
        let next = meta.and_then(|m| m.pagination).and_then(|p| p.next);
        assert!(next.is_some(), "{release}: meta.pagination.next not read from {body}");
    }
}

#[test]
fn robot_device_hosts_parse_from_the_schema_and_the_spec_example() {
    for (release, body) in storage_answers("/storage/robots-device-hosts", 3) {
        let page: Page<Empty> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{release}: {e}"));
        assert!(page.data.unwrap()[0].id.is_some(), "{release}: the host name is the item id");
    }
    let Some(dir) = spec_dir() else { return };
    let mut examples = 0;
    for release in ["10.4", "10.5", "11.0"] {
        let Ok(text) = std::fs::read_to_string(dir.join(release).join("storage.yaml")) else { continue };
        let spec = to_json(serde_yaml::from_str(&text).unwrap());
        let ok = &spec["paths"]["/storage/robots-device-hosts"]["get"]["responses"]["200"]["content"];
        for media in ok.as_object().into_iter().flat_map(|m| m.values()) {
            if media["example"].is_object() {
                let page: Page<Empty> = serde_json::from_value(media["example"].clone()).unwrap();
                assert_eq!(page.data.unwrap().len(), 2, "{release}");
                examples += 1;
            }
        }
    }
    assert!(examples >= 1, "the 10.4 spec has an example of robots-device-hosts");
}
