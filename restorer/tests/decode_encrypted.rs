//! Encrypted (`-y aes128|aes256` with `--encryption-key-file` / `--encryption-key-env`) and zstd
//! backups made by the real asbackup 4.5.8 (`testdata/asb/encrypted/`, see its README): they
//! decode to the same records as the plain backup, validate and restore like it, and a wrong
//! key, a truncated file or a changed byte fails with the file and the byte offset.

mod rcore_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aerospike::Key;
use aerospike_test_node::target;
use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use rcore_support::{client, get, restore, restorer, restorer_with_env, temp_dir, write_file};
use restorer::decompress::{self, Cipher, DecodeOptions, DecompressError, EncryptionKey};
use restorer::source::{Input, SourceError};

/// The set of the 300-record fixtures.
const SET: &str = "encfixture";
/// Records in the big fixtures.
const RECORDS: u64 = 300;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/asb/encrypted")
        .join(name)
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// The `--encryption-key-env` value the env fixture was made with: the PEM file's text.
fn env_key_value() -> String {
    let pem = std::fs::read(fixture("test-key-rsa.pem")).unwrap();
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// Every big fixture with the flags that decode it.
fn variants() -> Vec<(&'static str, Vec<String>)> {
    let key = path_str(&fixture("test-key-rsa.pem"));
    let file_key = |cipher: &str| {
        vec![
            "-y".to_string(),
            cipher.to_string(),
            "--encryption-key-file".to_string(),
            key.clone(),
        ]
    };
    let mut zstd_aes256 = vec!["-z".to_string(), "zstd".to_string()];
    zstd_aes256.extend(file_key("aes256"));
    vec![
        ("aes128.asb", file_key("aes128")),
        ("aes256.asb", file_key("aes256")),
        ("zstd.asb", vec!["-z".into(), "zstd".into()]),
        ("zstd.asb", vec![]),
        ("zstd-aes256.asb", zstd_aes256),
        (
            "zstd-aes128-env.asb",
            vec![
                "--compress".into(),
                "zstd".into(),
                "--encrypt".into(),
                "aes128".into(),
                "--encryption-key-env".into(),
                "TEST_KEY_B64".into(),
            ],
        ),
    ]
}

fn key_opts(cipher: Cipher, pem: &str) -> DecodeOptions {
    DecodeOptions {
        encryption: Some(Arc::new(
            EncryptionKey::from_key_file(cipher, &fixture(pem)).unwrap(),
        )),
        compression: None,
    }
}

/// Decodes `data` through the library, fed in chunks of the given sizes (cycled).
async fn decode(data: &[u8], sizes: &[usize], opts: &DecodeOptions) -> Result<Vec<u8>, String> {
    let data = Bytes::copy_from_slice(data);
    let mut chunks: Vec<Result<Bytes, SourceError>> = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < data.len() {
        let n = sizes[i % sizes.len()].clamp(1, data.len() - at);
        chunks.push(Ok(data.slice(at..at + n)));
        at += n;
        i += 1;
    }
    let input = Input::new(
        "fixture",
        Some(data.len() as u64),
        futures::stream::iter(chunks).boxed(),
    );
    let mut out = decompress::spawn_with(input, opts);
    let mut got = Vec::new();
    while let Some(chunk) = out.recv().await {
        got.extend_from_slice(&chunk.map_err(|e: DecompressError| e.to_string())?);
    }
    Ok(got)
}

/// The header lines and the records (each as its lines), sorted: backups of the same records
/// list them in different orders.
fn records(asb: &[u8]) -> (Vec<String>, Vec<String>) {
    let text = std::str::from_utf8(asb).expect("the fixtures are UTF-8 text");
    let mut header = Vec::new();
    let mut recs: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("+ n ") {
            recs.push(String::new());
        }
        match recs.last_mut() {
            Some(r) => {
                r.push_str(line);
                r.push('\n');
            }
            None => header.push(line.to_string()),
        }
    }
    recs.sort();
    (header, recs)
}

#[tokio::test(flavor = "multi_thread")]
async fn fixtures_decode_to_the_plain_backups_records_in_any_chunking() {
    let plain = std::fs::read(fixture("plain.asb")).unwrap();
    let (plain_header, plain_records) = records(&plain);
    assert_eq!(plain_records.len() as u64, RECORDS);
    assert_eq!(
        plain_header,
        ["Version 3.1", "# namespace test", "# first-file"]
    );
    let env_key = DecodeOptions {
        encryption: Some(Arc::new(EncryptionKey::from_material(
            Cipher::Aes128,
            &std::fs::read(fixture("test-key-rsa.pem")).unwrap(),
            "test",
        ))),
        compression: None,
    };
    let cases = [
        ("aes128.asb", key_opts(Cipher::Aes128, "test-key-rsa.pem")),
        ("aes256.asb", key_opts(Cipher::Aes256, "test-key-rsa.pem")),
        ("zstd.asb", DecodeOptions::default()),
        (
            "zstd-aes256.asb",
            key_opts(Cipher::Aes256, "test-key-rsa.pem"),
        ),
        ("zstd-aes128-env.asb", env_key),
    ];
    for (file, opts) in cases {
        let data = std::fs::read(fixture(file)).unwrap();
        for sizes in [&[1 << 20][..], &[1], &[15, 1, 17], &[16, 4093, 7]] {
            let got = decode(&data, sizes, &opts)
                .await
                .unwrap_or_else(|e| panic!("{file} in chunks {sizes:?}: {e}"));
            let (header, recs) = records(&got);
            assert_eq!(header, plain_header, "{file}");
            assert!(
                recs == plain_records,
                "{file}: other records than plain.asb"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_key_form_asbackup_takes_decrypts() {
    let plain = std::fs::read(fixture("small-plain.asb")).unwrap();
    let want = records(&plain);
    assert_eq!(want.1.len(), 3);
    for (file, cipher, pem) in [
        (
            "small-rsa-pkcs1-aes256.asb",
            Cipher::Aes256,
            "test-key-rsa-pkcs1.pem",
        ),
        // The same RSA key as PKCS#8: asbackup hashes its PKCS#1 form either way.
        (
            "small-rsa-pkcs1-aes256.asb",
            Cipher::Aes256,
            "test-key-rsa.pem",
        ),
        ("small-ec-aes256.asb", Cipher::Aes256, "test-key-ec.pem"),
        (
            "small-ed25519-aes128.asb",
            Cipher::Aes128,
            "test-key-ed25519.pem",
        ),
    ] {
        let data = std::fs::read(fixture(file)).unwrap();
        let got = decode(&data, &[5, 11], &key_opts(cipher, pem))
            .await
            .unwrap_or_else(|e| panic!("{file} with {pem}: {e}"));
        assert_eq!(records(&got), want, "{file} with {pem}");
    }
}

/// The number in "<n> record(s)" of the totals line.
fn record_count(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("record(s)"))
        .unwrap_or_else(|| panic!("no totals line in:\n{stderr}"));
    let idx = line.find(" record(s)").unwrap();
    line[..idx]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no record count in {line}"))
}

fn env() -> Vec<(String, String)> {
    vec![("TEST_KEY_B64".to_string(), env_key_value())]
}

#[test]
fn fixtures_validate_with_the_plain_backups_counts() {
    let plain = restorer(
        &["--validate", "-i", &path_str(&fixture("plain.asb"))],
        None,
    )
    .ok();
    assert_eq!(record_count(&plain.stderr), RECORDS);
    for (file, flags) in variants() {
        let mut args = vec![
            "--validate".to_string(),
            "-i".into(),
            path_str(&fixture(file)),
        ];
        args.extend(flags.iter().cloned());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = restorer_with_env(&a, None, &env()).ok();
        assert_eq!(
            record_count(&run.stderr),
            RECORDS,
            "{file} {flags:?}:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("validation is complete"),
            "{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("WARN"),
            "{file} {flags:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn help_documents_the_decoding_flags() {
    let run = restorer(&["--help"], None).ok();
    for flag in [
        "-z, --compress <ALGORITHM>",
        "-y, --encrypt <ALGORITHM>",
        "--encryption-key-file <PATH>",
        "--encryption-key-env <VAR>",
        "aes128",
        "aes256",
        "zstd",
    ] {
        assert!(
            run.stdout.contains(flag),
            "{flag} missing in:\n{}",
            run.stdout
        );
    }
}

/// The digests of a backup's records.
fn digests(asb: &[u8]) -> Vec<[u8; 20]> {
    std::str::from_utf8(asb)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("+ d "))
        .map(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d)
                .unwrap()
                .try_into()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_and_zstd_backups_restore_the_plain_backups_records() {
    let t = target().await;
    let hosts = t.hosts();
    let c = client(&hosts).await;
    // The plain backup into `test`, every other variant into `bar`; then both hold the same.
    // --no-generation makes reruns on a real server count the same.
    let plain = fixture("plain.asb");
    let run = restore(&hosts, &plain, &["--no-generation"]).await.ok();
    assert_eq!(run.counter("records"), RECORDS);
    assert_eq!(run.counter("inserted"), RECORDS);
    let digests = digests(&std::fs::read(&plain).unwrap());
    assert_eq!(digests.len() as u64, RECORDS);
    for (file, flags) in variants() {
        let mut args: Vec<&str> = vec!["-n", "test,bar", "--no-generation"];
        args.extend(flags.iter().map(String::as_str));
        let mut a = vec![
            "-h".to_string(),
            hosts.clone(),
            "-i".to_string(),
            path_str(&fixture(file)),
            "--log-format".to_string(),
            "logfmt".to_string(),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        let run = rcore_support::restorer_async_env(a, env()).await.ok();
        assert_eq!(run.counter("records"), RECORDS, "{file}");
        assert_eq!(run.counter("inserted"), RECORDS, "{file}");
        assert_eq!(run.counter("existed") + run.counter("fresher"), 0, "{file}");
        assert_eq!(run.error(), None, "{file}");
        for d in &digests {
            let from_plain = get(&c, &Key::with_digest("test", SET, None, *d))
                .await
                .expect("restored from plain.asb");
            let from_variant = get(&c, &Key::with_digest("bar", SET, None, *d))
                .await
                .unwrap_or_else(|| panic!("{file}: a record is missing"));
            let a: BTreeMap<_, _> = from_plain.bins.iter().collect();
            let b: BTreeMap<_, _> = from_variant.bins.iter().collect();
            assert_eq!(a, b, "{file}");
            assert_eq!(a.len(), 5);
        }
    }
}

/// A validate run that must fail; returns its stderr.
fn fails(args: &[&str], env: &[(String, String)]) -> String {
    let run = restorer_with_env(args, None, env).failed();
    assert!(
        run.stderr.contains("validation failed") && !run.stderr.contains("validation is complete"),
        "{}",
        run.stderr
    );
    run.stderr
}

#[test]
fn a_wrong_key_or_cipher_is_an_error_saying_so() {
    let file = path_str(&fixture("aes256.asb"));
    for (cipher, pem) in [
        ("aes256", "test-key-ec.pem"),
        ("aes128", "test-key-rsa.pem"),
    ] {
        let key = path_str(&fixture(pem));
        let err = fails(
            &[
                "--validate",
                "-i",
                &file,
                "-y",
                cipher,
                "--encryption-key-file",
                &key,
            ],
            &[],
        );
        assert!(
            err.contains("aes256.asb: encrypted data near byte 16"),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "wrong --encryption-key-file {key}, or not a file written with --encrypt {cipher}"
            )),
            "{err}"
        );
    }
    // A plain file given a key decrypts to garbage too.
    let key = path_str(&fixture("test-key-rsa.pem"));
    let plain = path_str(&fixture("plain.asb"));
    let err = fails(
        &[
            "--validate",
            "-i",
            &plain,
            "-y",
            "aes128",
            "--encryption-key-file",
            &key,
        ],
        &[],
    );
    assert!(
        err.contains("plain.asb: encrypted data near byte 16"),
        "{err}"
    );
    // An encrypted file without a key: the parser fails at the first line, with a hint.
    let err = fails(&["--validate", "-i", &file], &[]);
    assert!(err.contains("aes256.asb: line 1, byte offset 0"), "{err}");
    assert!(err.contains("pass -y/--encrypt and the key"), "{err}");
    // And the same through the env variable.
    let env_file = path_str(&fixture("zstd-aes128-env.asb"));
    let wrong = vec![("TEST_KEY_B64".to_string(), "d3Jvbmc=".to_string())];
    let err = fails(
        &[
            "--validate",
            "-i",
            &env_file,
            "-y",
            "aes128",
            "--encryption-key-env",
            "TEST_KEY_B64",
        ],
        &wrong,
    );
    assert!(
        err.contains("wrong --encryption-key-env TEST_KEY_B64"),
        "{err}"
    );
}

#[test]
fn key_problems_fail_before_reading() {
    let file = path_str(&fixture("aes256.asb"));
    let err = fails(
        &[
            "--validate",
            "-i",
            &file,
            "-y",
            "aes256",
            "--encryption-key-file",
            "/nonexistent/key.pem",
        ],
        &[],
    );
    assert!(
        err.contains("cannot read --encryption-key-file /nonexistent/key.pem"),
        "{err}"
    );
    let dir = temp_dir("enc-keys");
    let not_a_key = path_str(&write_file(&dir, "not-a-key.pem", b"just some text\n"));
    let err = fails(
        &[
            "--validate",
            "-i",
            &file,
            "-y",
            "aes256",
            "--encryption-key-file",
            &not_a_key,
        ],
        &[],
    );
    assert!(err.contains("no PEM block found"), "{err}");
    let err = fails(
        &[
            "--validate",
            "-i",
            &file,
            "-y",
            "aes256",
            "--encryption-key-env",
            "RESTORER_TEST_UNSET_VAR",
        ],
        &[],
    );
    assert!(
        err.contains("RESTORER_TEST_UNSET_VAR: the environment variable is not set"),
        "{err}"
    );
    let bad = vec![("K".to_string(), "not base64".to_string())];
    let err = fails(
        &[
            "--validate",
            "-i",
            &file,
            "-y",
            "aes256",
            "--encryption-key-env",
            "K",
        ],
        &bad,
    );
    assert!(err.contains("not valid base64"), "{err}");
    // Flags that do not go together are usage errors (exit 1 too).
    let run = restorer(&["--validate", "-i", &file, "-y", "aes256"], None).failed();
    assert!(run.stderr.contains("--encryption-key"), "{}", run.stderr);
}

#[test]
fn truncated_encrypted_files_are_errors_with_the_offset() {
    let dir = temp_dir("enc-trunc");
    let key = path_str(&fixture("test-key-rsa.pem"));
    let zstd = std::fs::read(fixture("zstd-aes256.asb")).unwrap();
    let plain = std::fs::read(fixture("aes256.asb")).unwrap();
    let validate = |path: &Path| {
        fails(
            &[
                "--validate",
                "-i",
                &path_str(path),
                "-y",
                "aes256",
                "--encryption-key-file",
                &key,
            ],
            &[],
        )
    };
    // Inside the IV.
    for cut in [0, 10, 15] {
        let p = write_file(&dir, &format!("iv-{cut}.asb"), &zstd[..cut]);
        let err = validate(&p);
        assert!(
            err.contains(&format!(
                "iv-{cut}.asb: encrypted data near byte {cut}: the input is truncated"
            )),
            "{err}"
        );
    }
    // Inside the zstd frame: the file offset where the data ran out.
    for cut in [17, 100, zstd.len() / 2, zstd.len() - 1] {
        let p = write_file(&dir, &format!("zstd-{cut}.asb"), &zstd[..cut]);
        let err = validate(&p);
        assert!(
            err.contains(&format!(
                "zstd-{cut}.asb: zstd data is truncated: the input ended after {cut} compressed bytes"
            )),
            "{err}"
        );
    }
    // Inside a record of an uncompressed encrypted file: the parser names line and offset.
    let cut = plain.len() / 2;
    let p = write_file(&dir, "plain-cut.asb", &plain[..cut]);
    let err = validate(&p);
    assert!(err.contains("plain-cut.asb: line "), "{err}");
    assert!(err.contains("byte offset"), "{err}");
}

#[test]
fn a_changed_byte_is_an_error_with_the_offset() {
    let dir = temp_dir("enc-corrupt");
    let key = path_str(&fixture("test-key-rsa.pem"));
    let validate = |path: &Path| {
        fails(
            &[
                "--validate",
                "-i",
                &path_str(path),
                "-y",
                "aes256",
                "--encryption-key-file",
                &key,
            ],
            &[],
        )
    };
    // In the zstd frame header (CTR flips the same bit of the plaintext).
    let mut zstd = std::fs::read(fixture("zstd-aes256.asb")).unwrap();
    zstd[16 + 4] ^= 0x80;
    let p = write_file(&dir, "zstd-flip.asb", &zstd);
    let err = validate(&p);
    assert!(
        err.contains("zstd-flip.asb: zstd data is corrupt near compressed byte"),
        "{err}"
    );
    // In the zstd magic: not a zstd stream any more, so the key looks wrong.
    let mut zstd = std::fs::read(fixture("zstd-aes256.asb")).unwrap();
    zstd[16] ^= 0x01;
    let p = write_file(&dir, "magic-flip.asb", &zstd);
    let err = validate(&p);
    assert!(
        err.contains("magic-flip.asb: encrypted data near byte 16"),
        "{err}"
    );
    // In the record structure of an uncompressed encrypted file: a parse error at that byte
    // of the decrypted stream (file byte 16 + n).
    let mut enc = std::fs::read(fixture("aes256.asb")).unwrap();
    let decrypted = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(decode(
            &enc,
            &[1 << 20],
            &key_opts(Cipher::Aes256, "test-key-rsa.pem"),
        ))
        .unwrap();
    let at = decrypted
        .windows(9)
        .enumerate()
        .filter(|(_, w)| *w == b"\n+ n test")
        .nth(150)
        .map(|(i, _)| i + 1)
        .unwrap();
    enc[16 + at] ^= 0x04; // '+' -> '/'
    let p = write_file(&dir, "record-flip.asb", &enc);
    let err = validate(&p);
    assert!(
        err.contains("record-flip.asb: line ") && err.contains(&format!("byte offset {at}")),
        "{err}"
    );
}

#[test]
fn a_compress_flag_that_disagrees_with_the_data_is_a_warning() {
    let key = path_str(&fixture("test-key-rsa.pem"));
    let aes = path_str(&fixture("aes256.asb"));
    let run = restorer(
        &[
            "--validate",
            "-i",
            &aes,
            "-z",
            "zstd",
            "-y",
            "aes256",
            "--encryption-key-file",
            &key,
        ],
        None,
    )
    .ok();
    assert_eq!(record_count(&run.stderr), RECORDS);
    assert!(
        run.stderr
            .contains("--compress zstd was given, but the data is plain"),
        "{}",
        run.stderr
    );
    let zstd = path_str(&fixture("zstd.asb"));
    let run = restorer(&["--validate", "-i", &zstd, "-z", "none"], None).ok();
    assert_eq!(record_count(&run.stderr), RECORDS);
    assert!(
        run.stderr
            .contains("--compress none was given, but the data is zstd-compressed"),
        "{}",
        run.stderr
    );
}
