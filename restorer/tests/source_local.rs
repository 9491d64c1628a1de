//! Local sources (files, `file://`, stdin) and decompression (gzip, zstd, plain).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use restorer::decompress::{self, CHANNEL_CHUNKS, DecompressError};
use restorer::source::{
    self, Input, Location, SourceError, StorageOptions, list_backups, read_small,
};
use support::{collect, pattern, unique};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

fn asb_text(lines: usize, seed: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("+ k S 9 key{seed}-{i:05}\n- S x 5 hello\n").into_bytes())
        .collect()
}

/// Decompresses a whole input; returns the bytes and the final error, if any.
async fn decompress_all(input: Input) -> (Vec<u8>, Option<DecompressError>) {
    let mut out = decompress::spawn(input);
    let mut got = Vec::new();
    while let Some(item) = out.recv().await {
        match item {
            Ok(chunk) => got.extend_from_slice(&chunk),
            Err(e) => {
                assert!(out.recv().await.is_none(), "nothing may follow an error");
                return (got, Some(e));
            }
        }
    }
    (got, None)
}

async fn decompress_file(path: &Path) -> (Vec<u8>, Option<DecompressError>) {
    let loc = Location::Path(path.to_owned());
    decompress_all(
        source::open(&loc, &StorageOptions::default())
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn local_file_streams_whole_in_large_chunks() {
    let dir = temp_dir("local");
    let path = dir.join("x.asb");
    let data = pattern(3 * source::READ_CHUNK + 777, 2);
    std::fs::write(&path, &data).unwrap();

    let input = source::open(&Location::Path(path.clone()), &StorageOptions::default())
        .await
        .unwrap();
    assert_eq!(input.size, Some(data.len() as u64));
    assert_eq!(input.name, path.display().to_string());
    let sizes: Vec<usize> = input
        .stream
        .map(|c| c.unwrap().len())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(
        sizes,
        vec![
            source::READ_CHUNK,
            source::READ_CHUNK,
            source::READ_CHUNK,
            777
        ]
    );

    let url: Location = format!("file://{}", path.display()).parse().unwrap();
    let input = source::open(&url, &StorageOptions::default())
        .await
        .unwrap();
    assert!(collect(input).await == data);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_file_and_directory_are_clear_errors() {
    let dir = temp_dir("missing");
    let missing = Location::Path(dir.join("nope.asb.gz"));
    let err = source::open(&missing, &StorageOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("nope.asb.gz"), "{err}");

    let err = source::open(&Location::Path(dir.clone()), &StorageOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_local_backups_sorted() {
    let dir = temp_dir("listdir");
    for name in ["c.asb.zst", "a.asb", "b.asb.gz", "readme.txt", "a.asb.json"] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    std::fs::create_dir(dir.join("d.asb")).unwrap();
    let want = ["a.asb", "b.asb.gz", "c.asb.zst"];

    let found = list_backups(&Location::Path(dir.clone()), &StorageOptions::default())
        .await
        .unwrap();
    let expected: Vec<Location> = want.iter().map(|n| Location::Path(dir.join(n))).collect();
    assert_eq!(found, expected);

    let url: Location = format!("file://{}/", dir.display()).parse().unwrap();
    let found = list_backups(&url, &StorageOptions::default())
        .await
        .unwrap();
    let names: Vec<String> = found.iter().map(|l| l.file_name().unwrap()).collect();
    assert_eq!(names, want);
    assert!(
        found
            .iter()
            .all(|l| l.local_path().unwrap().parent() == Some(dir.as_path()))
    );

    let err = list_backups(
        &Location::Path(dir.join("none")),
        &StorageOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SourceError::NotFound { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn read_small_reads_whole_and_bounds_size() {
    let dir = temp_dir("small");
    let path = dir.join("m.json");
    std::fs::write(&path, b"{\"namespace\":\"bar\"}\n").unwrap();
    let loc = Location::Path(path);
    let got = read_small(&loc, &StorageOptions::default(), 100)
        .await
        .unwrap();
    assert_eq!(&got[..], b"{\"namespace\":\"bar\"}\n");
    let err = read_small(&loc, &StorageOptions::default(), 5)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::TooLarge { max: 5, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_multi_member_decompresses_every_member() {
    let dir = temp_dir("gzmulti");
    let parts: Vec<Vec<u8>> = (0..3).map(|i| asb_text(20_000, i)).collect();
    let mut file = Vec::new();
    for p in &parts {
        file.extend(gzip(p));
    }
    let path = dir.join("multi.asb.gz");
    std::fs::write(&path, &file).unwrap();

    let loc = Location::Path(path);
    let mut out = decompress::spawn(
        source::open(&loc, &StorageOptions::default())
            .await
            .unwrap(),
    );
    let mut got = Vec::new();
    while let Some(chunk) = out.recv().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= decompress::OUT_CHUNK);
        got.extend_from_slice(&chunk);
    }
    assert!(got == parts.concat(), "multi-member output differs");
    assert_eq!(
        out.compressed_bytes_read.load(Ordering::Relaxed),
        file.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn zstd_frames_decompress_including_skippable_frames() {
    let dir = temp_dir("zstd");
    let a = asb_text(10_000, 1);
    let b = asb_text(10_000, 2);
    let mut file = zstd(&a);
    // A skippable frame (magic 0x184D2A50, little endian), then a second frame.
    file.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    file.extend(zstd(&b));
    let path = dir.join("x.asb.zst");
    std::fs::write(&path, &file).unwrap();
    let (got, err) = decompress_file(&path).await;
    assert!(err.is_none(), "{err:?}");
    assert!(got == [a, b].concat(), "zstd output differs");
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_gzip_is_an_error_naming_the_input() {
    let dir = temp_dir("gztrunc");
    let text = asb_text(50_000, 3);
    let full = gzip(&text);
    for cut in [full.len() - 4, full.len() / 2, 11] {
        let path = dir.join(format!("cut-{cut}.asb.gz"));
        std::fs::write(&path, &full[..cut]).unwrap();
        let (got, err) = decompress_file(&path).await;
        let err = err.unwrap_or_else(|| panic!("cut at {cut}: reported success"));
        assert!(got.len() <= text.len());
        assert!(
            text.starts_with(&got),
            "output before the error must be a prefix"
        );
        assert!(
            matches!(err, DecompressError::Truncated { format: "gzip", .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("cut-{cut}.asb.gz")) && msg.contains("truncated"),
            "{msg}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_zstd_is_an_error() {
    let dir = temp_dir("zsttrunc");
    let text = asb_text(50_000, 4);
    let full = zstd(&text);
    for cut in [full.len() - 1, full.len() / 2, 6] {
        let path = dir.join(format!("cut-{cut}.asb.zst"));
        std::fs::write(&path, &full[..cut]).unwrap();
        let (got, err) = decompress_file(&path).await;
        let err = err.unwrap_or_else(|| panic!("cut at {cut}: reported success"));
        // Cutting only into the frame's checksum leaves every data byte decodable: the data
        // arrives, then the error.
        assert!(got.len() <= text.len());
        assert!(
            text.starts_with(&got),
            "output before the error must be a prefix"
        );
        assert!(
            matches!(err, DecompressError::Truncated { format: "zstd", .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains(&format!("cut-{cut}.asb.zst")),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_gzip_and_trailing_garbage_are_errors() {
    let dir = temp_dir("gzcorrupt");
    let text = asb_text(50_000, 5);
    let mut bad = gzip(&text);
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let path = dir.join("corrupt.asb.gz");
    std::fs::write(&path, &bad).unwrap();
    let (_, err) = decompress_file(&path).await;
    let err = err.expect("corrupt gzip reported success");
    assert!(
        matches!(err, DecompressError::Corrupt { format: "gzip", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("corrupt.asb.gz"), "{err}");

    let mut garbage = gzip(&text);
    garbage.extend_from_slice(b"this is not gzip");
    let path = dir.join("garbage.asb.gz");
    std::fs::write(&path, &garbage).unwrap();
    let (got, err) = decompress_file(&path).await;
    assert!(got == text);
    assert!(
        err.is_some(),
        "trailing garbage after the last member must be reported"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_checksum_and_length_mismatches_are_corrupt() {
    let dir = temp_dir("gzcrc");
    let text = asb_text(20_000, 9);
    // Stored (uncompressed) deflate blocks: flipping a data byte keeps the deflate stream valid,
    // only the CRC-32 in the trailer can tell.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    e.write_all(&text).unwrap();
    let good = e.finish().unwrap();
    let mut flipped = good.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x01;
    let mut bad_size = gzip(&text);
    let n = bad_size.len();
    bad_size[n - 4] ^= 0x01;
    for (name, data, what) in [
        ("flipped.asb.gz", &flipped, "CRC-32 mismatch"),
        ("size.asb.gz", &bad_size, "length mismatch"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        let (got, err) = decompress_file(&path).await;
        // The data comes first (the parser may use it), then the error: never a success.
        assert_eq!(got.len(), text.len(), "{name}");
        let err = err.unwrap_or_else(|| panic!("{name}: reported success"));
        let DecompressError::Corrupt { format, offset, .. } = &err else {
            panic!("{name}: {err}");
        };
        assert_eq!((*format, *offset), ("gzip", data.len() as u64), "{name}");
        assert!(err.to_string().contains(what), "{name}: {err}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_file_is_empty_not_an_error() {
    let dir = temp_dir("empty");
    for name in ["empty.asb", "empty.asb.gz"] {
        let path = dir.join(name);
        std::fs::write(&path, b"").unwrap();
        let (got, err) = decompress_file(&path).await;
        assert!(err.is_none(), "{name}: {err:?}");
        assert!(got.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_input_passes_through_and_tiny_chunks_are_gathered() {
    let text = asb_text(30_000, 6);
    let chunks: Vec<Result<Bytes, SourceError>> = text
        .chunks(1000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let input = Input::new("tiny", None, futures::stream::iter(chunks).boxed());
    let mut out = decompress::spawn(input);
    let mut got = Vec::new();
    let mut n = 0;
    while let Some(chunk) = out.recv().await {
        got.extend_from_slice(&chunk.unwrap());
        n += 1;
    }
    assert!(got == text);
    assert!(
        n < text.len() / 1000 / 10,
        "{n} chunks: small chunks were not gathered"
    );

    // A gzip stream whose magic is split over two chunks is still detected.
    let gz = gzip(&text);
    let parts = vec![
        Ok(Bytes::copy_from_slice(&gz[..1])),
        Ok(Bytes::copy_from_slice(&gz[1..])),
    ];
    let (got, err) = decompress_all(Input::new(
        "split",
        None,
        futures::stream::iter(parts).boxed(),
    ))
    .await;
    assert!(err.is_none(), "{err:?}");
    assert!(got == text);
}

#[tokio::test(flavor = "multi_thread")]
async fn source_errors_pass_through_unchanged() {
    let gz = gzip(&asb_text(50_000, 7));
    let items = vec![
        Ok(Bytes::copy_from_slice(&gz[..gz.len() / 2])),
        Err(SourceError::ReadFailed {
            location: "gs://b/flaky.asb.gz".into(),
            offset: 1234,
            attempts: 10,
            source: "connection reset".into(),
        }),
    ];
    let input = Input::new(
        "gs://b/flaky.asb.gz",
        None,
        futures::stream::iter(items).boxed(),
    );
    let (_, err) = decompress_all(input).await;
    let err = err.expect("source error lost");
    assert!(
        matches!(err, DecompressError::Source(SourceError::ReadFailed { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("flaky.asb.gz") && err.to_string().contains("1234"));
}

/// Backpressure: with nobody reading, the decoder stops pulling from the source.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_consumer_stops_the_source() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let stream = futures::stream::repeat_with(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(Bytes::from(vec![b'x'; 1 << 20]))
    })
    .take(1000)
    .boxed();
    let mut out = decompress::spawn(Input::new("endless", None, stream));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = pulled.load(Ordering::SeqCst);
    assert!(
        before <= CHANNEL_CHUNKS + 2,
        "pulled {before} chunks with no consumer"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pulled.load(Ordering::SeqCst), before, "kept pulling");
    // Reading resumes the flow; dropping the receiver stops the thread.
    for _ in 0..10 {
        out.recv().await.unwrap().unwrap();
    }
    assert!(pulled.load(Ordering::SeqCst) > before);
    drop(out);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_drop = pulled.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        after_drop,
        "pulling after the receiver was dropped"
    );
    assert!(after_drop < 1000);
}

const STDIN_CHILD: &str = "RESTORER_TEST_STDIN_CHILD";

/// Child half of `stdin_is_read_and_decompressed`: reads `-` and prints length and a checksum.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "child process of stdin_is_read_and_decompressed, which runs it"]
async fn stdin_child() {
    assert!(
        std::env::var_os(STDIN_CHILD).is_some(),
        "run through stdin_is_read_and_decompressed"
    );
    let input = source::open(&"-".parse().unwrap(), &StorageOptions::default())
        .await
        .unwrap();
    assert_eq!(input.size, None);
    assert_eq!(input.name, "<stdin>");
    let (got, err) = decompress_all(input).await;
    assert!(err.is_none(), "{err:?}");
    let sum = got
        .iter()
        .fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    println!("STDIN-RESULT {} {sum}", got.len());
}

#[test]
fn stdin_is_read_and_decompressed() {
    let text = asb_text(40_000, 8);
    let sum = text
        .iter()
        .fold(0u64, |a, &b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stdin_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(STDIN_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let gz = gzip(&text);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&gz));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    assert!(
        stdout.contains(&format!("STDIN-RESULT {} {sum}", text.len())),
        "unexpected child output: {stdout}"
    );
}
