//! Object-store sources against real emulators (fake-gcs-server, moto, Azurite) that
//! `scripts/test` starts on loopback. Without them these tests fail and say so.

mod support;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use restorer::decompress;
use restorer::source::{
    self, Location, ResumePolicy, SourceError, StorageOptions, list_backups, read_small,
};
use support::{Cloud, CutProxy, collect, pattern, put, socket_addr, unique, write_gcs_key_file};

/// Enough to be streamed in many chunks, small enough to be quick.
const OBJECT_SIZE: usize = 3 * 1024 * 1024 + 12_345;

fn fast_resume() -> ResumePolicy {
    ResumePolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
    }
}

/// One test per emulated cloud (`gcs_<name>`, `s3_<name>`, `azure_<name>`) running
/// `async fn scenario(cloud: Cloud)`.
macro_rules! per_cloud {
    ($scenario:ident => $gcs:ident, $s3:ident, $azure:ident) => {
        #[tokio::test(flavor = "multi_thread")]
        async fn $gcs() {
            $scenario(Cloud::Gcs).await;
        }
        #[tokio::test(flavor = "multi_thread")]
        async fn $s3() {
            $scenario(Cloud::S3).await;
        }
        #[tokio::test(flavor = "multi_thread")]
        async fn $azure() {
            $scenario(Cloud::Azure).await;
        }
    };
}

per_cloud!(roundtrip => gcs_object_streams_whole, s3_object_streams_whole, azure_object_streams_whole);
per_cloud!(lists_backups => gcs_lists_backups_sorted, s3_lists_backups_sorted, azure_lists_backups_sorted);
per_cloud!(backup_prefix => gcs_backup_prefix_metadata_and_missing_data,
    s3_backup_prefix_metadata_and_missing_data, azure_backup_prefix_metadata_and_missing_data);
per_cloud!(cut_resumes => gcs_stream_cut_resumes_byte_identical,
    s3_stream_cut_resumes_byte_identical, azure_stream_cut_resumes_byte_identical);
per_cloud!(replaced_during_resume => gcs_object_replaced_during_resume_is_an_error,
    s3_object_replaced_during_resume_is_an_error, azure_object_replaced_during_resume_is_an_error);

/// A cut stream resumes, both through the resume layer alone (`object_store` retries off) and
/// with `object_store`'s own retries on.
async fn cut_resumes(cloud: Cloud) {
    survives_cut(cloud, Some(0)).await;
    survives_cut(cloud, None).await;
}

async fn roundtrip(cloud: Cloud) {
    let opts = cloud.options();
    let loc = cloud.location(&format!("{}/x.asb", unique("roundtrip")));
    let data = pattern(OBJECT_SIZE, 1);
    put(&loc, &opts, data.clone()).await;

    let input = source::open(&loc, &opts).await.unwrap();
    assert_eq!(input.size, Some(OBJECT_SIZE as u64));
    assert_eq!(input.name, loc.to_string());
    assert!(collect(input).await == data, "{cloud:?}: bytes differ");
}

async fn lists_backups(cloud: Cloud) {
    let opts = cloud.options();
    let dir = unique("list");
    for name in [
        "b.asb.gz",
        "a.asb",
        "c.asb.zst",
        "notes.txt",
        "a.asb.json",
        "sub/d.asb",
    ] {
        let loc = cloud.location(&format!("{dir}/{name}"));
        put(&loc, &opts, Bytes::from_static(b"x")).await;
    }
    for dir_loc in [cloud.location(&dir), cloud.location(&format!("{dir}/"))] {
        let found = list_backups(&dir_loc, &opts).await.unwrap();
        let names: Vec<String> = found.iter().map(|l| l.to_string()).collect();
        let expected: Vec<String> = ["a.asb", "b.asb.gz", "c.asb.zst"]
            .iter()
            .map(|n| cloud.location(&format!("{dir}/{n}")).to_string())
            .collect();
        assert_eq!(names, expected, "{cloud:?} listing {dir_loc}");
    }
    let empty = list_backups(&cloud.location(&unique("nothing-here")), &opts)
        .await
        .unwrap();
    assert!(empty.is_empty());
}

async fn backup_prefix(cloud: Cloud) {
    let opts = cloud.options();
    let prefix = cloud.location(&format!("{}/ns-0", unique("prefix")));
    let json = prefix.with_suffix(".json");
    put(
        &json,
        &opts,
        Bytes::from_static(b"{\"namespace\":\"test\"}\n"),
    )
    .await;
    let meta = read_small(&json, &opts, 1024).await.unwrap();
    assert_eq!(
        restorer::metadata::parse(&meta)
            .unwrap()
            .namespace
            .as_deref(),
        Some("test")
    );
    let err = read_small(&json, &opts, 4).await.unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");

    let missing = prefix.with_suffix(".asb.gz");
    let err = source::open(&missing, &opts).await.unwrap_err();
    assert!(
        matches!(err, SourceError::NotFound { .. }),
        "{cloud:?}: {err}"
    );
    assert!(err.to_string().contains("ns-0.asb.gz"), "{err}");
}

/// An object uploaded straight to the emulator, and options that reach it through a proxy that
/// cuts the first response after `cut_after` bytes (object_store's own retries off, fast resume).
struct CutSetup {
    loc: Location,
    /// Options reaching the emulator directly.
    direct: StorageOptions,
    /// Options going through the proxy.
    opts: StorageOptions,
    proxy: CutProxy,
}

async fn cut_setup(cloud: Cloud, file: &str, data: Bytes, cut_after: u64) -> CutSetup {
    let endpoint = cloud.endpoint();
    let direct = cloud.options_for(&endpoint);
    let loc = cloud.location(&format!("{}/{file}", unique("cut")));
    put(&loc, &direct, data).await;
    let proxy = CutProxy::start(socket_addr(&endpoint), cut_after).await;
    let mut opts = cloud.options_for(&proxy.endpoint_for(&endpoint));
    opts.request_retries = Some(0);
    opts.resume = fast_resume();
    CutSetup {
        loc,
        direct,
        opts,
        proxy,
    }
}

/// Cuts the first response after `cut_after` bytes and checks the stream is byte-identical.
/// With `request_retries = 0`, `object_store` gives up at once and the resume layer reconnects.
async fn survives_cut(cloud: Cloud, request_retries: Option<usize>) {
    let data = pattern(OBJECT_SIZE, 7);
    let CutSetup {
        loc,
        mut opts,
        proxy,
        ..
    } = cut_setup(cloud, "cut.asb", data.clone(), 1024 * 1024 + 333).await;
    opts.request_retries = request_retries;
    let input = source::open(&loc, &opts).await.unwrap();
    let got = collect(input).await;
    assert!(proxy.did_cut(), "{cloud:?}: the proxy never cut the stream");
    assert!(
        proxy.connections.load(Ordering::SeqCst) >= 2,
        "no reconnection"
    );
    assert_eq!(got.len(), data.len(), "{cloud:?}: length after resume");
    assert!(got == data, "{cloud:?}: bytes differ after resume");
}

/// A gzip backup cut mid-download decompresses to exactly the original text.
#[tokio::test(flavor = "multi_thread")]
async fn s3_gzip_cut_mid_download_decompresses_identical() {
    let cloud = Cloud::S3;
    let text: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("+ k S 5 key{i}\n- I 42\n").into_bytes())
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let compressed = gz.finish().unwrap();
    let half = compressed.len() as u64 / 2;
    let CutSetup {
        loc, opts, proxy, ..
    } = cut_setup(cloud, "data.asb.gz", compressed.clone().into(), half).await;
    let input = source::open(&loc, &opts).await.unwrap();
    let mut out = decompress::spawn(input);
    let mut got = Vec::new();
    while let Some(chunk) = out.recv().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert!(proxy.did_cut());
    assert!(got == text, "decompressed text differs after resume");
    assert_eq!(
        out.compressed_bytes_read.load(Ordering::Relaxed),
        compressed.len() as u64
    );
}

/// The object is replaced while the download is interrupted: the resume must refuse to splice
/// two versions together.
async fn replaced_during_resume(cloud: Cloud) {
    let CutSetup {
        loc,
        direct,
        mut opts,
        proxy,
    } = cut_setup(cloud, "changing.asb", pattern(OBJECT_SIZE, 3), 512 * 1024).await;
    opts.resume = ResumePolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1500),
        max_backoff: Duration::from_secs(2),
    };
    let cut = proxy.cut.clone();
    let (loc2, direct2) = (loc.clone(), direct.clone());
    let replacer = tokio::spawn(async move {
        cut.notified().await;
        put(&loc2, &direct2, pattern(OBJECT_SIZE, 4)).await;
    });
    let input = source::open(&loc, &opts).await.unwrap();
    let mut stream = input.stream;
    let mut last = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            last = Some(e);
            break;
        }
    }
    replacer.await.unwrap();
    let err = last.expect("the stream must fail, not splice two versions");
    assert!(
        matches!(err, SourceError::Changed { .. }),
        "{cloud:?}: {err}"
    );
    assert!(err.to_string().contains("changing.asb"), "{err}");
}

/// Resume attempts are bounded: with the emulator gone, the stream fails with a clear error.
#[tokio::test(flavor = "multi_thread")]
async fn resume_gives_up_after_bounded_attempts() {
    let cloud = Cloud::S3;
    let CutSetup {
        loc, opts, proxy, ..
    } = cut_setup(cloud, "gone.asb", pattern(OBJECT_SIZE, 5), 256 * 1024).await;
    let input = source::open(&loc, &opts).await.unwrap();
    drop(proxy); // no more connections after the cut
    let mut stream = input.stream;
    let mut got = 0usize;
    let err = loop {
        match stream.next().await {
            Some(Ok(b)) => got += b.len(),
            Some(Err(e)) => break e,
            None => panic!("the stream ended as if complete after {got} bytes"),
        }
    };
    assert!(got < OBJECT_SIZE);
    let msg = err.to_string();
    assert!(
        matches!(err, SourceError::ReadFailed { attempts: 5, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("gone.asb") && msg.contains(&format!("byte {got}")),
        "{msg}"
    );
    assert!(stream.next().await.is_none(), "nothing after a final error");
}

/// The operator's way: a service-account key file (as mounted at /secret/key.json) whose
/// `gcs_base_url` and `disable_oauth` point at fake-gcs-server; no endpoint option.
#[tokio::test(flavor = "multi_thread")]
async fn gcs_service_account_key_file_reaches_the_emulator() {
    let key_path = std::env::temp_dir().join(format!("{}.json", unique("sa-key")));
    write_gcs_key_file(&key_path, &Cloud::Gcs.endpoint());

    let loc = Cloud::Gcs.location(&format!("{}/k.asb", unique("keyfile")));
    let data = pattern(100_000, 9);
    put(&loc, &Cloud::Gcs.options(), data.clone()).await;

    let opts = StorageOptions {
        gcs_credentials_file: Some(key_path.clone()),
        ..StorageOptions::default()
    };
    let input = source::open(&loc, &opts).await.unwrap();
    assert!(collect(input).await == data);
    let listed = list_backups(&Location::Url(parent_url(&loc)), &opts)
        .await
        .unwrap();
    assert_eq!(listed, vec![loc]);
    std::fs::remove_file(key_path).unwrap();
}

const GAC_CHILD: &str = "RESTORER_TEST_GAC_CHILD_LOCATION";
const GAC_CHILD_LEN: &str = "RESTORER_TEST_GAC_CHILD_LEN";

/// Child half of `google_application_credentials_is_used`: default options, so the key file
/// can only come from `GOOGLE_APPLICATION_CREDENTIALS`, which the parent set for this process.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "child process of google_application_credentials_is_used, which runs it"]
async fn google_application_credentials_child() {
    let loc: Location = std::env::var(GAC_CHILD)
        .expect("run through google_application_credentials_is_used")
        .parse()
        .unwrap();
    let want: usize = std::env::var(GAC_CHILD_LEN).unwrap().parse().unwrap();
    let got = collect(
        source::open(&loc, &StorageOptions::default())
            .await
            .unwrap(),
    )
    .await;
    assert!(got == pattern(want, 11), "bytes differ");
    println!("GAC-CHILD-OK {}", got.len());
}

/// The operator's Job sets `GOOGLE_APPLICATION_CREDENTIALS=/secret/key.json`: the restorer maps
/// it to the service-account key (whose `gcs_base_url` points at fake-gcs-server). Run in a
/// child process so no test mutates this process's environment.
#[tokio::test(flavor = "multi_thread")]
async fn google_application_credentials_is_used() {
    let key_path = std::env::temp_dir().join(format!("{}.json", unique("gac-key")));
    write_gcs_key_file(&key_path, &Cloud::Gcs.endpoint());
    let loc = Cloud::Gcs.location(&format!("{}/env.asb", unique("gac")));
    let len = 200_000;
    put(&loc, &Cloud::Gcs.options(), pattern(len, 11)).await;

    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "google_application_credentials_child",
            "--ignored",
            "--nocapture",
        ])
        .env("GOOGLE_APPLICATION_CREDENTIALS", &key_path)
        .env(GAC_CHILD, loc.to_string())
        .env(GAC_CHILD_LEN, len.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("GAC-CHILD-OK {len}")),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(key_path).unwrap();
}

fn parent_url(loc: &Location) -> url::Url {
    let Location::Url(u) = loc else {
        unreachable!()
    };
    u.join(".").unwrap()
}

/// An unreachable endpoint is an error naming the location, not a hang.
#[tokio::test(flavor = "multi_thread")]
async fn unreachable_endpoint_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut opts = Cloud::S3.options_for(&format!("http://127.0.0.1:{port}"));
    opts.request_retries = Some(0);
    let loc = Cloud::S3.location("nowhere.asb");
    let err = tokio::time::timeout(Duration::from_secs(30), source::open(&loc, &opts))
        .await
        .expect("open must not hang")
        .unwrap_err();
    assert!(err.to_string().contains("nowhere.asb"), "{err}");
}
