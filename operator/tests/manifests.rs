//! The checked-in manifests under `deploy/`: generated CRDs up to date, CRD contents, every
//! YAML file parses, typed objects round-trip, and the examples satisfy the CRD schemas.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use operator::cluster::AerospikeCluster;
use operator::crd::AerospikeNamespaceRestore;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(rel: &str) -> String {
    let path = deploy().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn generated_crds_are_up_to_date() {
    for (file, yaml) in operator::crd_yaml::all().unwrap() {
        assert_eq!(
            read(&format!("crds/{file}")),
            yaml,
            "deploy/crds/{file} is out of date: run `cargo run -p operator --bin crdgen -- deploy/crds`"
        );
    }
}

fn restore_crd() -> CustomResourceDefinition {
    serde_yaml::from_str(&read("crds/aerospikenamespacerestores.yaml")).unwrap()
}

fn cluster_crd() -> CustomResourceDefinition {
    serde_yaml::from_str(&read("crds/aerospikeclusters.yaml")).unwrap()
}

#[test]
fn restore_crd_has_names_columns_status_and_immutable_spec() {
    let crd = restore_crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("aerospikenamespacerestores.aerospike.travelaudience.com")
    );
    assert_eq!(crd.spec.group, "aerospike.travelaudience.com");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.kind, "AerospikeNamespaceRestore");
    assert_eq!(crd.spec.names.plural, "aerospikenamespacerestores");
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["asnr".to_owned()][..])
    );
    let v = &crd.spec.versions[0];
    assert_eq!(
        (v.name.as_str(), v.served, v.storage),
        ("v1alpha2", true, true)
    );
    assert!(
        v.subresources.as_ref().unwrap().status.is_some(),
        "status subresource"
    );
    let cols = v.additional_printer_columns.as_ref().unwrap();
    let default_cols: Vec<(&str, &str)> = cols
        .iter()
        .filter(|c| c.priority.unwrap_or(0) == 0)
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        default_cols,
        [
            ("Target Cluster", ".status.target.cluster"),
            ("Target Namespace", ".status.target.namespace"),
            ("Phase", ".status.phase"),
            ("Progress", ".status.progress.summary"),
            ("Age", ".metadata.creationTimestamp")
        ]
    );
    let wide: Vec<&str> = cols
        .iter()
        .filter(|c| c.priority == Some(1))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(wide, ["Read", "Written", "Rate", "ETA", "Inserted"]);
    assert!(
        cols.iter()
            .filter(|c| c.priority.unwrap_or(0) != 0)
            .all(|c| c.priority == Some(1))
    );

    let schema = serde_json::to_value(
        v.schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let spec = &schema["properties"]["spec"];
    assert_eq!(
        spec["x-kubernetes-validations"][0]["rule"],
        "self == oldSelf"
    );
    assert_eq!(
        spec["properties"]["target"]["required"],
        serde_json::json!(["cluster", "namespace"])
    );
    let status = &schema["properties"]["status"]["properties"];
    for field in [
        "target",
        "storage",
        "conditions",
        "job",
        "phase",
        "startTime",
        "completionTime",
        "counters",
        "progress",
    ] {
        assert!(
            status.get(field).is_some(),
            "status.{field} declared in the schema"
        );
    }
    for field in [
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    ] {
        assert!(
            status["conditions"]["items"]["properties"]
                .get(field)
                .is_some(),
            "condition {field}"
        );
    }
}

/// v1alpha1 is served (as the reference operator's CRDs did), deprecated, with the same schema.
fn assert_only_v1alpha2_is_stored(crd: &CustomResourceDefinition) {
    let names: Vec<(&str, bool, bool)> = crd
        .spec
        .versions
        .iter()
        .map(|v| (v.name.as_str(), v.served, v.storage))
        .collect();
    assert_eq!(names, [("v1alpha2", true, true), ("v1alpha1", true, false)]);
    let (new, old) = (&crd.spec.versions[0], &crd.spec.versions[1]);
    assert_eq!(old.deprecated, Some(true));
    assert_eq!(old.schema, new.schema);
    assert_eq!(old.subresources, new.subresources);
}

/// Every string under `schema` declares a `maxLength`.
fn unbounded_strings(schema: &Value, path: &str, out: &mut Vec<String>) {
    if schema["type"] == "string"
        && schema.get("enum").is_none()
        && schema.get("maxLength").is_none()
    {
        out.push(path.to_owned());
    }
    for (k, v) in schema["properties"].as_object().into_iter().flatten() {
        unbounded_strings(v, &format!("{path}.{k}"), out);
    }
    if schema.get("items").is_some() {
        unbounded_strings(&schema["items"], &format!("{path}[]"), out);
    }
}

#[test]
fn the_immutable_spec_has_only_bounded_strings_so_the_cel_cost_is_small() {
    let schema = schema_of(&restore_crd());
    let mut unbounded = Vec::new();
    unbounded_strings(&schema["properties"]["spec"], "spec", &mut unbounded);
    assert!(
        unbounded.is_empty(),
        "strings without maxLength under the CEL rule: {unbounded:?}"
    );
}

#[test]
fn cluster_crd_has_short_name_and_keeps_unknown_fields() {
    let crd = cluster_crd();
    assert_only_v1alpha2_is_stored(&crd);
    assert_eq!(crd.spec.names.kind, "AerospikeCluster");
    assert_eq!(
        crd.spec.names.short_names.as_deref(),
        Some(&["asc".to_owned()][..])
    );
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        schema["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
}

/// A small structural-schema check: required fields, types, enums, minLength, and unknown
/// fields only where `x-kubernetes-preserve-unknown-fields` allows them.
fn conforms(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    if value.is_null() {
        return if schema["nullable"] == true {
            Ok(())
        } else {
            Err(format!("{path}: null not allowed"))
        };
    }
    match schema["type"].as_str() {
        Some("object") => {
            let obj = value.as_object().ok_or(format!("{path}: not an object"))?;
            for req in schema["required"].as_array().into_iter().flatten() {
                let key = req.as_str().unwrap();
                if !obj.contains_key(key) {
                    return Err(format!("{path}: missing required {key}"));
                }
            }
            let props = schema["properties"].as_object();
            for (k, v) in obj {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => conforms(s, v, &format!("{path}.{k}"))?,
                    None if schema["x-kubernetes-preserve-unknown-fields"] == true => {}
                    None if path.is_empty()
                        && ["apiVersion", "kind", "metadata"].contains(&k.as_str()) => {}
                    None => return Err(format!("{path}.{k}: unknown field would be pruned")),
                }
            }
            Ok(())
        }
        Some("array") => {
            let items = value.as_array().ok_or(format!("{path}: not an array"))?;
            items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| conforms(&schema["items"], v, &format!("{path}[{i}]")))
        }
        Some("string") => {
            let s = value.as_str().ok_or(format!("{path}: not a string"))?;
            if let Some(options) = schema["enum"].as_array()
                && !options.iter().any(|o| o == value)
            {
                return Err(format!("{path}: {s} not in {options:?}"));
            }
            if s.len() < schema["minLength"].as_u64().unwrap_or(0) as usize {
                return Err(format!("{path}: too short"));
            }
            if s.len() > schema["maxLength"].as_u64().unwrap_or(u64::MAX) as usize {
                return Err(format!("{path}: too long"));
            }
            Ok(())
        }
        Some("integer") => value
            .as_i64()
            .map(|_| ())
            .ok_or(format!("{path}: not an integer")),
        Some(other) => Err(format!("{path}: unhandled type {other}")),
        None => Ok(()),
    }
}

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn the_example_cluster_is_accepted_by_the_shipped_cluster_crd() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s/aerospikecluster.yaml"),
    )
    .unwrap();
    let value = &docs(&text)[0];
    conforms(&schema_of(&cluster_crd()), value, "").unwrap();
    let cluster: AerospikeCluster = serde_json::from_value(value.clone()).unwrap();
    assert!(cluster.has_namespace("as-namespace-0"));
    assert_eq!(cluster.backup_storage().unwrap().bucket, "aerospike-backup");
}

#[test]
fn the_schema_check_rejects_what_the_api_server_would() {
    let schema = schema_of(&restore_crd());
    let bad = serde_json::json!({"spec": {"target": {"cluster": "c"}}});
    assert!(
        conforms(&schema, &bad, "")
            .unwrap_err()
            .contains("missing required namespace")
    );
    let bad = serde_json::json!({"spec": {"target": {"cluster": "c", "namespace": "n"}, "storage": {"type": "ftp", "bucket": "b", "secret": "s"}}});
    assert!(conforms(&schema, &bad, "").is_err());
    let pruned =
        serde_json::json!({"spec": {"target": {"cluster": "c", "namespace": "n", "extra": 1}}});
    assert!(
        conforms(&schema, &pruned, "")
            .unwrap_err()
            .contains("pruned")
    );
}

#[test]
fn the_seed_example_and_a_reference_status_are_accepted_by_the_restore_crd() {
    let mut value = docs(&read("examples/aerospikenamespacerestore.yaml")).remove(0);
    let schema = schema_of(&restore_crd());
    conforms(&schema, &value, "").unwrap();
    let r: AerospikeNamespaceRestore = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(r.metadata.name.as_deref(), Some("as-backup-0"));
    // A status as the reference operator wrote it survives (nothing pruned) and reads.
    value["status"] = serde_json::json!({
        "target": {"cluster": "as-cluster-0", "namespace": "as-namespace-0"},
        "Conditions": [{"Type": "RestoreStarted", "Status": "True", "LastTransitionTime": "2018-07-02T15:52:48Z", "Reason": "", "Message": "m"}]
    });
    conforms(&schema, &value, "").unwrap();
    let r: AerospikeNamespaceRestore = serde_json::from_value(value).unwrap();
    assert!(r.status.unwrap().is_true("RestoreStarted"));
}

#[test]
fn every_file_under_deploy_parses_and_crds_round_trip() {
    let mut files = Vec::new();
    yaml_files(&deploy(), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for doc in docs(&text) {
            let kind = doc["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no kind", file.display()));
            assert!(
                doc["apiVersion"].is_string(),
                "{}: no apiVersion",
                file.display()
            );
            if kind == "CustomResourceDefinition" {
                let crd: CustomResourceDefinition = serde_json::from_value(doc.clone()).unwrap();
                assert_eq!(
                    serde_json::to_value(&crd).unwrap(),
                    doc,
                    "{} round-trips",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn kustomization_lists_existing_files() {
    let k = &docs(&read("kustomization.yaml"))[0];
    let resources = k["resources"].as_array().unwrap();
    assert!(resources.len() >= 7);
    for r in resources {
        let rel = r.as_str().unwrap();
        assert!(deploy().join(rel).is_file(), "{rel} missing");
    }
}

#[test]
fn deployment_is_non_root_with_probes_and_resources() {
    let d: Deployment = serde_yaml::from_str(&read("operator.yaml")).unwrap();
    let pod = d.spec.template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("aerospike-restore-operator")
    );
    assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
    let c = &pod.containers[0];
    assert_eq!(
        c.liveness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/healthz")
    );
    assert_eq!(
        c.readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref(),
        Some("/readyz")
    );
    assert!(c.resources.as_ref().unwrap().requests.is_some());
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert!(
        c.env
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e.name == "RESTORER_IMAGE")
    );
}

#[test]
fn rbac_grants_exactly_what_the_operator_uses() {
    let role: ClusterRole = serde_yaml::from_str(&read("rbac/cluster-role.yaml")).unwrap();
    let allows = |group: &str, resource: &str, verb: &str| {
        role.rules.iter().flatten().any(|r| {
            r.api_groups.iter().flatten().any(|g| g == group)
                && r.resources.iter().flatten().any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb)
        })
    };
    let g = "aerospike.travelaudience.com";
    for (group, resource, verb) in [
        (g, "aerospikenamespacerestores", "list"),
        (g, "aerospikenamespacerestores", "watch"),
        (g, "aerospikenamespacerestores/status", "patch"),
        (g, "aerospikeclusters", "get"),
        (g, "aerospikeclusters", "watch"),
        ("batch", "jobs", "create"),
        ("batch", "jobs", "watch"),
        ("", "pods", "list"),
        ("", "secrets", "get"),
        ("", "secrets", "create"),
        ("", "secrets", "delete"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
        ("", "serviceaccounts", "create"),
        ("rbac.authorization.k8s.io", "roles", "create"),
        ("rbac.authorization.k8s.io", "rolebindings", "create"),
    ] {
        assert!(allows(group, resource, verb), "{verb} {group}/{resource}");
    }
    for (group, resource, verb) in [
        ("", "secrets", "list"),
        ("batch", "jobs", "delete"),
        (g, "aerospikeclusters", "update"),
        ("", "pods", "delete"),
        ("coordination.k8s.io", "leases", "update"),
        ("rbac.authorization.k8s.io", "roles", "update"),
        ("", "serviceaccounts", "delete"),
    ] {
        assert!(
            !allows(group, resource, verb),
            "{verb} {group}/{resource} is not needed"
        );
    }
    assert!(
        role.rules
            .iter()
            .flatten()
            .all(|r| !r.verbs.iter().any(|v| v == "*")),
        "no wildcards"
    );
    let binding: ClusterRoleBinding =
        serde_yaml::from_str(&read("rbac/cluster-role-binding.yaml")).unwrap();
    assert_eq!(binding.role_ref.name, "aerospike-restore-operator");
    assert_eq!(
        binding.subjects.unwrap()[0].namespace.as_deref(),
        Some("aerospike-restore-operator")
    );
}

#[test]
fn the_leader_lease_is_granted_in_the_operator_namespace_only() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let role: Role = serde_yaml::from_str(&read("rbac/leader-election-role.yaml")).unwrap();
    assert_eq!(
        role.metadata.namespace.as_deref(),
        Some("aerospike-restore-operator")
    );
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].api_groups.as_deref(),
        Some(&["coordination.k8s.io".to_owned()][..])
    );
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["leases".to_owned()][..])
    );
    assert_eq!(rules[0].verbs, ["get", "create", "update"]);
    let binding: RoleBinding =
        serde_yaml::from_str(&read("rbac/leader-election-role-binding.yaml")).unwrap();
    assert_eq!(binding.role_ref.name, role.metadata.name.unwrap());
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        (
            "aerospike-restore-operator",
            Some("aerospike-restore-operator")
        )
    );
    let d: Deployment = serde_yaml::from_str(&read("operator.yaml")).unwrap();
    let spec = d.spec;
    assert_eq!(spec.replicas, Some(2), "two replicas, one leader");
    let env = spec.template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert!(
        env.iter().any(|e| e.name == "POD_NAMESPACE"),
        "the Lease namespace"
    );
}
