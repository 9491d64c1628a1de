//! Restores from the storage emulators that `scripts/test` starts (fake-gcs-server, moto,
//! Azurite), the way the operator's Job runs the restorer: `--backup <url-prefix>` with the
//! metadata JSON and a gzip'ed backup, `--target-namespace`, credentials from the environment.

mod rcore_support;
mod support;

use aerospike_test_node::target;
use bytes::Bytes;
use rcore_support::{Rec, asb, client, get, gzip, restorer_async_env, unique_set};
use support::{AZURITE_KEY, Cloud, put, unique, write_gcs_key_file};

/// Environment the restorer process needs for `cloud`, and extra arguments.
fn env_and_args(cloud: Cloud, dir: &std::path::Path) -> (Vec<(String, String)>, Vec<String>) {
    let endpoint = cloud.endpoint();
    match cloud {
        // As in the Job: a service-account key file named by GOOGLE_APPLICATION_CREDENTIALS;
        // `gcs_base_url` + `disable_oauth` point it at the emulator.
        Cloud::Gcs => {
            let path = dir.join("key.json");
            write_gcs_key_file(&path, &endpoint);
            (
                vec![(
                    "GOOGLE_APPLICATION_CREDENTIALS".into(),
                    path.display().to_string(),
                )],
                vec![],
            )
        }
        Cloud::S3 => (
            vec![
                ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
                ("AWS_REGION".into(), "us-east-1".into()),
            ],
            vec!["--storage-endpoint".into(), endpoint],
        ),
        Cloud::Azure => (
            vec![("AZURE_STORAGE_ACCOUNT_KEY".into(), AZURITE_KEY.into())],
            vec!["--storage-endpoint".into(), endpoint],
        ),
    }
}

async fn backup_from(cloud: Cloud) {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set(cloud.scheme());
    let dir = rcore_support::temp_dir("objstore");
    let recs: Vec<Rec> = (0..3000)
        .map(|i| Rec::simple("test", &set, &set, i))
        .collect();
    let name = unique("restore");
    let opts = cloud.options();
    put(
        &cloud.location(&format!("{name}.json")),
        &opts,
        Bytes::from_static(b"{\"namespace\":\"test\"}\n"),
    )
    .await;
    put(
        &cloud.location(&format!("{name}.asb.gz")),
        &opts,
        Bytes::from(gzip(&asb(Some("test"), &[], &recs))),
    )
    .await;
    let (env, extra) = env_and_args(cloud, &dir);
    let prefix = cloud.location(&name).to_string();
    let mut args = vec![
        "--backup".to_string(),
        prefix.clone(),
        "--target-namespace".into(),
        "bar".into(),
        "-h".into(),
        hosts.clone(),
        "--log-format".into(),
        "logfmt".into(),
    ];
    args.extend(extra);
    let run = restorer_async_env(args.clone(), env.clone()).await.ok();
    assert_eq!(run.counter("inserted"), 3000, "{cloud:?}: {}", run.stderr);
    let c = client(&hosts).await;
    assert!(get(&c, &recs[2999].key_in("bar")).await.is_some());

    // A prefix without objects: exit 1, naming the metadata object.
    let mut missing = args.clone();
    missing[1] = cloud.location(&unique("absent")).to_string();
    let run = restorer_async_env(missing, env).await.failed();
    assert!(run.stderr.contains(".json"), "{cloud:?}: {}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gcs_backup_prefix_as_the_job_runs_it() {
    backup_from(Cloud::Gcs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backup_prefix() {
    backup_from(Cloud::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_backup_prefix() {
    backup_from(Cloud::Azure).await;
}
