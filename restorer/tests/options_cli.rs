//! asrestore 4.5.8's options that need no cluster: configuration files (sections, instances,
//! precedence, errors with file, line and key), conflicting flags, refused options, -N parsing,
//! --directory-list / --parent-directory, -m in validate mode, -P without a terminal.

mod rcore_support;

use std::path::Path;

use rcore_support::{Rec, asb, restorer, restorer_with_env, temp_dir, write_file};

fn backup(dir: &Path, name: &str, set: &str, n: u32) -> std::path::PathBuf {
    let recs: Vec<Rec> = (0..n).map(|i| Rec::simple("test", set, name, i)).collect();
    write_file(dir, name, &asb(Some("test"), &[], &recs))
}

/// The records count of the totals line ("... <n> record(s) ...").
fn records_line(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("record(s)"))
        .unwrap_or_else(|| panic!("no totals line in:\n{stderr}"));
    let idx = line.find(" record(s)").expect("record(s)");
    line[..idx]
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line}"))
}

fn home_env(home: &Path) -> Vec<(String, String)> {
    vec![("HOME".to_string(), home.display().to_string())]
}

#[test]
fn config_file_supplies_options_and_flags_override_it() {
    let dir = temp_dir("cfg");
    let a = backup(&dir, "a.asb", "s", 3);
    let b = backup(&dir, "b.asb", "s", 5);
    let conf = write_file(
        &dir,
        "my.conf",
        format!(
            "[cluster]\nhost = \"127.0.0.1:1\"\n\n[asrestore]\ninput-file = \"{}\"\nvalidate = true\n\
             # another tool's section is left alone\n[asadm]\nwhatever = 1\n",
            a.display()
        )
        .as_bytes(),
    );
    let c = conf.to_str().unwrap();
    // The file names the input and --validate.
    let run = restorer(&["--config-file", c], None).ok();
    assert_eq!(records_line(&run.stderr), 3, "{}", run.stderr);
    // A source on the command line replaces the file's.
    let run = restorer(&["--config-file", c, "-i", b.to_str().unwrap()], None).ok();
    assert_eq!(records_line(&run.stderr), 5, "{}", run.stderr);
    // --only-config-file reads only that file; --no-config-file none.
    let run = restorer(&["--only-config-file", c], None).ok();
    assert_eq!(records_line(&run.stderr), 3);
    let run = restorer(&["--no-config-file", "--config-file", c], None);
    assert_eq!(run.code, 1, "no source without the file:\n{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn home_config_file_and_instances() {
    let dir = temp_dir("cfghome");
    let a = backup(&dir, "a.asb", "s", 2);
    let b = backup(&dir, "b.asb", "s", 7);
    std::fs::create_dir_all(dir.join(".aerospike")).unwrap();
    write_file(
        &dir.join(".aerospike"),
        "astools.conf",
        format!(
            "[asrestore]\nvalidate = true\ninput = \"{}\"\n\n[asrestore_other]\nvalidate = true\n\
             input = \"{}\"\n",
            a.display(),
            b.display()
        )
        .as_bytes(),
    );
    let run = restorer_with_env(&[], None, &home_env(&dir)).ok();
    assert_eq!(records_line(&run.stderr), 2, "{}", run.stderr);
    let run = restorer_with_env(&["--instance", "other"], None, &home_env(&dir)).ok();
    assert_eq!(records_line(&run.stderr), 7, "{}", run.stderr);
    let run = restorer_with_env(&["--no-config-file"], None, &home_env(&dir));
    assert_eq!(run.code, 1);
    // [include] pulls in another file, relative to the including one.
    write_file(&dir, "inc.conf", b"[asrestore]\nvalidate = true\n");
    let top = write_file(
        &dir,
        "top.conf",
        format!(
            "[include]\nfile = \"inc.conf\"\n[asrestore]\ninput = \"{}\"\n",
            b.display()
        )
        .as_bytes(),
    );
    let run = restorer(&["--only-config-file", top.to_str().unwrap()], None).ok();
    assert_eq!(records_line(&run.stderr), 7, "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_config_files_fail_with_file_line_and_key() {
    let dir = temp_dir("cfgbad");
    let a = backup(&dir, "a.asb", "s", 1);
    let cases: [(&str, &str, &str); 4] = [
        (
            "unknown.conf",
            "[cluster]\nhost = \"x\"\n\n[asrestore]\nvalidate = true\nno-such-option = 3\n",
            ":6: unknown key \"no-such-option\" in section [asrestore]",
        ),
        (
            "cluster-key.conf",
            "[cluster]\nnamespace = \"test\"\n",
            ":2: unknown key \"namespace\" in section [cluster]",
        ),
        (
            "syntax.conf",
            "[asrestore]\nvalidate = = true\n",
            ":2: invalid TOML",
        ),
        (
            "array.conf",
            "[asrestore]\n\nset-list = [\"a\", \"b\"]\n",
            ":3: key \"set-list\" in section [asrestore]: expected a string, number or boolean",
        ),
    ];
    for (name, text, want) in cases {
        let conf = write_file(&dir, name, text.as_bytes());
        let run = restorer(
            &[
                "--config-file",
                conf.to_str().unwrap(),
                "-i",
                a.to_str().unwrap(),
                "--validate",
            ],
            None,
        );
        assert_eq!(run.code, 1, "{name} should fail:\n{}", run.stderr);
        let expected = format!("{}{want}", conf.display());
        assert!(
            run.stderr.contains(&expected),
            "{name}: want {expected:?} in:\n{}",
            run.stderr
        );
    }
    // A missing --config-file is an error; a missing default file is not.
    let missing = dir.join("nope.conf");
    let run = restorer(
        &[
            "--config-file",
            missing.to_str().unwrap(),
            "--validate",
            "-i",
            "x",
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "{}: cannot read the configuration file",
            missing.display()
        )),
        "{}",
        run.stderr
    );
    // A value the option rejects names the option (clap's message), exit 1.
    let conf = write_file(&dir, "badval.conf", b"[asrestore]\nparallel = 0\n");
    let run = restorer(
        &[
            "--config-file",
            conf.to_str().unwrap(),
            "--validate",
            "-i",
            a.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--parallel"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conflicting_flags_exit_1_and_say_which() {
    let cases: [(&[&str], &str); 9] = [
        (&["-i", "a", "-d", "b"], "--directory"),
        (&["-i", "a", "--directory-list", "b,c"], "--directory-list"),
        (
            &["--parent-directory", "p", "--validate", "-i", "a"],
            "--directory-list",
        ),
        (
            &["-i", "a", "-N", "1,100", "--bandwidth", "2"],
            "--bandwidth",
        ),
        (
            &["-i", "a", "--tps", "5", "--records-per-second", "6"],
            "--records-per-second",
        ),
        (&["-i", "a", "--tls-certfile", "c.pem"], "--tls-keyfile"),
        (&["-i", "a", "--tls-crl-check"], "--tls-capath"),
        (
            &["-i", "a", "--config-file", "x", "--only-config-file", "x"],
            "--only-config-file",
        ),
        (&["-i", "a", "-A", "KERBEROS"], "KERBEROS"),
    ];
    for (args, want) in cases {
        let run = restorer(args, None);
        assert_eq!(run.code, 1, "{args:?} should fail:\n{}", run.stderr);
        assert!(
            run.stderr.contains(want),
            "{args:?}: {want:?} not in:\n{}",
            run.stderr
        );
    }
}

#[test]
fn refused_options_say_why() {
    let dir = temp_dir("refuse");
    let a = backup(&dir, "a.asb", "s", 1);
    let a = a.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--s3-profile", "dev"],
            "--s3-profile is not supported: AWS credential profiles",
        ),
        (
            &["--s3-allow-system-proxy"],
            "--s3-allow-system-proxy is not supported",
        ),
        (
            &["--tls-cert-blacklist", "b.txt"],
            "--tls-cert-blacklist is not supported",
        ),
        (&["--sa-address", "h:3005"], "secret agent is not supported"),
        (&["-h", "secrets:res:host"], "secret agent is not supported"),
        (&["-N", "0,100"], "invalid --nice \"0,100\""),
        (&["-N", "5"], "invalid --nice \"5\""),
    ];
    for (extra, want) in cases {
        let mut args = vec!["-i", a];
        args.extend_from_slice(extra);
        let run = restorer(&args, None);
        assert_eq!(run.code, 1, "{extra:?} should fail:\n{}", run.stderr);
        assert!(
            run.stderr.contains(want),
            "{extra:?}: {want:?} not in:\n{}",
            run.stderr
        );
    }
    // TLS details without --tls-enable are refused before connecting.
    let run = restorer(
        &["-i", a, "--tls-protocols", "TLSv1.2", "-h", "127.0.0.1:1"],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("--tls-protocols needs --tls-enable"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn asrestore_spellings_are_accepted() {
    let dir = temp_dir("spell");
    let a = backup(&dir, "a.asb", "s", 4);
    let a = a.to_str().unwrap();
    let run = restorer(
        &[
            "--validate",
            "--input-file",
            a,
            "--threads",
            "2",
            "-l",
            "10",
            "--event-loops",
            "2",
        ],
        None,
    )
    .ok();
    assert_eq!(records_line(&run.stderr), 4);
    assert!(
        run.stderr
            .contains("--event-loops 2 is a C client tuning hint"),
        "tuning hints are accepted with a warning:\n{}",
        run.stderr
    );
    for help in ["-Z", "--usage", "-O", "--options", "--help"] {
        let run = restorer(&[help], None);
        assert_eq!(run.code, 0, "{help}");
        assert!(
            run.stdout.contains("--directory-list"),
            "{help}: {}",
            run.stdout
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directory_list_with_parent_directory() {
    let dir = temp_dir("dirlist");
    for (sub, n) in [("d1", 3), ("d2", 4), ("d3", 5)] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        backup(&dir.join(sub), &format!("{sub}.asb"), "s", n);
    }
    let parent = dir.display().to_string();
    let run = restorer(
        &[
            "--validate",
            "--parent-directory",
            &parent,
            "--directory-list",
            "d1,d3",
        ],
        None,
    )
    .ok();
    assert_eq!(records_line(&run.stderr), 8, "{}", run.stderr);
    let list = format!("{parent}/d1,{parent}/d2,{parent}/d3");
    let run = restorer(&["--validate", "--directory-list", &list], None).ok();
    assert_eq!(records_line(&run.stderr), 12);
    // A parent ending in '/' gets no second one; an empty entry or directory is an error.
    let run = restorer(
        &[
            "--validate",
            "--parent-directory",
            &format!("{parent}/"),
            "--directory-list",
            "d2",
        ],
        None,
    )
    .ok();
    assert_eq!(records_line(&run.stderr), 4);
    let run = restorer(
        &["--validate", "--directory-list", &format!("{parent}/d1,")],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("empty entry"), "{}", run.stderr);
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let run = restorer(
        &[
            "--validate",
            "--parent-directory",
            &parent,
            "--directory-list",
            "d1,empty",
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no backup files found"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn machine_lines_in_validate_mode() {
    let dir = temp_dir("mach");
    let a = backup(&dir, "a.asb", "s", 9);
    let m = dir.join("machine.txt");
    std::fs::write(&m, "earlier line\n").unwrap();
    let run = restorer(
        &[
            "--validate",
            "-i",
            a.to_str().unwrap(),
            "-m",
            m.to_str().unwrap(),
        ],
        None,
    )
    .ok();
    let text = std::fs::read_to_string(&m).unwrap();
    // Appended, as asrestore does; the records count is the third SUMMARY field.
    assert!(text.starts_with("earlier line\n"), "{text}");
    assert!(
        text.ends_with("PROGRESS:100\nREMAINING:0s\nSUMMARY:0:0:9:0:0:0 :0:0:0\n"),
        "{text}\n{}",
        run.stderr
    );
    let bad = dir.join("no/such/dir/m.txt");
    let run = restorer(
        &[
            "--validate",
            "-i",
            a.to_str().unwrap(),
            "-m",
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("-m/--machine"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn password_prompt_needs_a_terminal() {
    let dir = temp_dir("prompt");
    let a = backup(&dir, "a.asb", "s", 1);
    // stdin is /dev/null here: -P without a value cannot ask.
    let run = restorer(
        &[
            "-i",
            a.to_str().unwrap(),
            "-U",
            "admin",
            "-P",
            "-h",
            "127.0.0.1:1",
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("-P without a value asks for the password on a terminal"),
        "{}",
        run.stderr
    );
    let run = restorer(
        &[
            "-i",
            a.to_str().unwrap(),
            "--tls-enable",
            "--tls-certfile",
            "c.pem",
            "--tls-keyfile",
            "k.pem",
            "--tls-keyfile-password",
            "env:RESTORER_TEST_NO_SUCH_VAR",
            "-h",
            "127.0.0.1:1",
        ],
        None,
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("env:RESTORER_TEST_NO_SUCH_VAR: RESTORER_TEST_NO_SUCH_VAR is not set"),
        "{}",
        run.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
