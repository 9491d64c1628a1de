//! The restorer's log lines when stderr is a pipe (a Job's log, `2>file`): plain text in
//! every `--log-format`, never an ANSI escape (0x1b), and the shape each format promises.

mod rcore_support;

use aerospike_test_node::target;
use rcore_support::{Rec, Run, asb, restorer_async_env, temp_dir, unique_set, write_file};

/// Environment that asks for colours where a program listens to it; a pipe must win.
fn colour_env() -> Vec<(String, String)> {
    [
        ("TERM", "xterm-256color"),
        ("CLICOLOR_FORCE", "1"),
        ("FORCE_COLOR", "1"),
        ("COLORTERM", "truecolor"),
        ("RESTORER_PROGRESS_MS", "20"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A restore of `file` into `hosts` with `--log-format format`, then a run that fails on an
/// input path holding an ESC byte (which the error message quotes).
async fn runs(hosts: &str, file: &str, dir: &std::path::Path, format: &str) -> (Run, Run) {
    let ok = restorer_async_env(
        ["-h", hosts, "-i", file, "--log-format", format]
            .map(String::from)
            .to_vec(),
        colour_env(),
    )
    .await
    .ok();
    let evil = dir.join("no\x1b[31msuch.asb");
    let failed = restorer_async_env(
        vec![
            "-h".into(),
            hosts.into(),
            "-i".into(),
            evil.display().to_string(),
            "--log-format".into(),
            format.into(),
        ],
        colour_env(),
    )
    .await
    .failed();
    (ok, failed)
}

#[track_caller]
fn assert_plain(format: &str, run: &Run) {
    assert!(
        !run.stderr.as_bytes().contains(&0x1b),
        "--log-format {format} wrote an ESC byte:\n{:?}",
        run.stderr
    );
    assert!(
        !run.stdout.as_bytes().contains(&0x1b),
        "{format}: {:?}",
        run.stdout
    );
    assert!(
        run.stderr.lines().count() >= 2,
        "{format}: too little output:\n{}",
        run.stderr
    );
}

/// `time="2018-07-02T15:52:48Z" level=info msg="..."` and optional `key=value` pairs.
#[track_caller]
fn assert_logfmt_line(line: &str) {
    let rest = line
        .strip_prefix("time=\"")
        .unwrap_or_else(|| panic!("no time: {line}"));
    let (time, rest) = rest
        .split_once("\" ")
        .unwrap_or_else(|| panic!("time unquoted: {line}"));
    time.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("time {time:?} in {line}: {e}"));
    assert!(time.ends_with('Z') && time.len() == 20, "{line}");
    let rest = rest
        .strip_prefix("level=")
        .unwrap_or_else(|| panic!("no level: {line}"));
    let (level, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    assert!(
        ["trace", "debug", "info", "warning", "error"].contains(&level),
        "level {level:?}: {line}"
    );
    assert!(rest.starts_with("msg=\""), "msg not quoted first: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_pipe_are_plain_in_every_format() {
    let t = target().await;
    let hosts = t.hosts();
    let set = unique_set("logpipe");
    let dir = temp_dir("logpipe");
    let recs: Vec<Rec> = (0..2000)
        .map(|i| Rec::simple("test", &set, &set, i))
        .collect();
    let f = write_file(&dir, "l.asb", &asb(Some("test"), &[], &recs));
    let f = f.to_str().unwrap();

    let (ok, failed) = runs(&hosts, f, &dir, "text").await;
    for run in [&ok, &failed] {
        assert_plain("text", run);
    }
    assert!(ok.stderr.contains(" INFO "), "{}", ok.stderr);
    assert!(ok.stderr.contains("restore is complete"), "{}", ok.stderr);
    assert!(failed.stderr.contains("such.asb"), "{}", failed.stderr);

    let (ok, failed) = runs(&hosts, f, &dir, "logfmt").await;
    for run in [&ok, &failed] {
        assert_plain("logfmt", run);
        for line in run.stderr.lines() {
            assert_logfmt_line(line);
        }
    }
    assert!(
        ok.stderr
            .contains(r#"level=info msg="restore is starting""#),
        "{}",
        ok.stderr
    );
    assert!(
        ok.stderr
            .contains(r#"level=info msg="restore is complete""#),
        "{}",
        ok.stderr
    );
    assert!(
        failed
            .stderr
            .lines()
            .any(|l| l.contains("level=error") && l.contains("such.asb")),
        "{}",
        failed.stderr
    );

    let (ok, failed) = runs(&hosts, f, &dir, "json").await;
    for run in [&ok, &failed] {
        assert_plain("json", run);
        for line in run.stderr.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            assert!(v["timestamp"].is_string(), "{line}");
            assert!(v["level"].is_string(), "{line}");
            assert!(v["fields"]["message"].is_string(), "{line}");
        }
    }
    let messages = |run: &Run| -> Vec<String> {
        run.stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["fields"]["message"].as_str().map(str::to_string))
            .collect()
    };
    assert!(
        messages(&ok).iter().any(|m| m == "restore is complete"),
        "{}",
        ok.stderr
    );
    // The ESC of the path survives as data inside the JSON string, not as a raw byte.
    assert!(
        messages(&failed)
            .iter()
            .any(|m| m.contains("no\u{1b}[31msuch.asb")),
        "{}",
        failed.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
