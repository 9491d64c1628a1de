//! `restorer --validate`: parse-only counts on the shipped samples, gzip, stdin, directories,
//! and bad inputs that must fail with file, line, offset and reason.

mod rcore_support;

use std::path::PathBuf;

use rcore_support::{Rec, asb, gzip, restorer, temp_dir, write_file};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/asb")
        .join(name)
}

/// The number in "<n> <what>" of the totals line.
fn count(stderr: &str, what: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("record(s)"))
        .unwrap_or_else(|| panic!("no totals line in:\n{stderr}"));
    let idx = line
        .find(what)
        .unwrap_or_else(|| panic!("{what:?} not in {line}"));
    line[..idx]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {what:?} in {line}"))
}

#[test]
fn samples_validate_with_their_counts() {
    let expect = [
        ("01-first-file-all-bin-types.asb", 1, 1, 8),
        ("02-keys-sets-escapes.asb", 8, 0, 0),
        ("03-blob-and-cdt-types.asb", 2, 0, 0),
        ("04-ttl-filters-and-quirks.asb", 9, 0, 0),
        ("05-legacy-v3.0.asb", 1, 0, 0),
    ];
    for (file, records, udfs, indexes) in expect {
        let path = sample(file);
        let run = restorer(&["--validate", "-i", path.to_str().unwrap()], None).ok();
        assert_eq!(
            count(&run.stderr, "record(s)"),
            records,
            "{file}:\n{}",
            run.stderr
        );
        assert_eq!(count(&run.stderr, "UDF file(s)"), udfs, "{file}");
        assert_eq!(count(&run.stderr, "secondary index(es)"), indexes, "{file}");
        assert!(run.stderr.contains("rec/s"), "{}", run.stderr);
        assert!(
            run.stderr.contains("validation is complete"),
            "{}",
            run.stderr
        );
        assert!(run.term.is_none(), "validate writes no termination message");
    }
}

#[test]
fn gzip_stdin_and_directory() {
    let dir = temp_dir("validate-dir");
    let plain = std::fs::read(sample("02-keys-sets-escapes.asb")).unwrap();
    let gz = write_file(&dir, "a.asb.gz", &gzip(&plain));
    let run = restorer(&["--validate", "-i", gz.to_str().unwrap()], None).ok();
    assert_eq!(count(&run.stderr, "record(s)"), 8);

    let run = restorer(&["--validate", "-i", "-"], Some(gzip(&plain))).ok();
    assert_eq!(count(&run.stderr, "record(s)"), 8);

    write_file(
        &dir,
        "b.asb",
        &std::fs::read(sample("03-blob-and-cdt-types.asb")).unwrap(),
    );
    write_file(&dir, "ignored.txt", b"not a backup");
    let run = restorer(&["--validate", "-d", dir.to_str().unwrap()], None).ok();
    assert_eq!(count(&run.stderr, "record(s)"), 10);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_line_in_the_middle_names_file_line_and_offset() {
    let dir = temp_dir("validate-bad");
    let recs: Vec<Rec> = (0..5).map(|i| Rec::simple("test", "s", "bad", i)).collect();
    let good = asb(Some("test"), &[], &recs);
    let text = String::from_utf8(good).unwrap();
    // Break the third record's generation line.
    let mut n = 0;
    let broken: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("+ g ") {
                n += 1;
                if n == 3 {
                    return "+ g x".to_string();
                }
            }
            l.to_string()
        })
        .collect();
    let bad_line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("+ g "))
        .nth(2)
        .map(|(i, _)| i + 1)
        .unwrap();
    let data = broken.join("\n") + "\n";
    let p = write_file(&dir, "bad.asb", data.as_bytes());
    let run = restorer(&["--validate", "-i", p.to_str().unwrap()], None).failed();
    assert!(run.stderr.contains("bad.asb"), "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("line {bad_line}")),
        "expected line {bad_line}:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("byte offset"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("validation is complete"),
        "{}",
        run.stderr
    );
    // The two records before the fault were counted.
    assert_eq!(count(&run.stderr, "record(s)"), 2, "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_gzip_and_missing_final_newline_fail() {
    let dir = temp_dir("validate-trunc");
    let recs: Vec<Rec> = (0..2000)
        .map(|i| Rec::simple("test", "s", "tr", i))
        .collect();
    let gz = gzip(&asb(Some("test"), &[], &recs));
    let p = write_file(&dir, "cut.asb.gz", &gz[..gz.len() / 2]);
    let run = restorer(&["--validate", "-i", p.to_str().unwrap()], None).failed();
    assert!(run.stderr.contains("cut.asb.gz"), "{}", run.stderr);
    assert!(run.stderr.contains("truncated"), "{}", run.stderr);

    let mut data = asb(Some("test"), &[], &recs[..1]);
    data.pop();
    let p = write_file(&dir, "nolf.asb", &data);
    let run = restorer(&["--validate", "-i", p.to_str().unwrap()], None).failed();
    assert!(run.stderr.contains("nolf.asb"), "{}", run.stderr);

    let p = dir.join("missing.asb");
    let run = restorer(&["--validate", "-i", p.to_str().unwrap()], None).failed();
    assert!(run.stderr.contains("missing.asb"), "{}", run.stderr);

    let empty = temp_dir("validate-empty");
    let run = restorer(&["--validate", "-d", empty.to_str().unwrap()], None).failed();
    assert!(run.stderr.contains("no backup files"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let run = restorer(&["-i", "a.asb", "-d", "dir"], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let run = restorer(&["--help"], None);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--host"), "{}", run.stdout);
    assert!(run.stdout.contains("--target-namespace"), "{}", run.stdout);
}
