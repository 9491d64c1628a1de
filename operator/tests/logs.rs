//! The operator binary's log lines are plain text when its output is not a terminal (pod logs
//! are files): no ANSI escape codes.

use std::net::TcpListener;
use std::process::{Command, Stdio};

#[test]
fn log_lines_written_to_a_pipe_carry_no_ansi_codes() {
    // An address already in use: the operator logs its start, then fails to listen and logs
    // that, without ever looking for a Kubernetes API.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("local address");
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .env("HEALTH_ADDR", addr.to_string())
        .env("RUST_LOG", "info")
        // Terminal detection alone must decide, not a NO_COLOR from the caller's environment.
        .env_remove("NO_COLOR")
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("operator runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "ESC byte in the operator's {name}:\n{}",
            String::from_utf8_lossy(bytes).escape_debug()
        );
    }
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" INFO ") && l.contains("starting aerospike restore operator")),
        "no start line in:\n{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.contains(" ERROR ")
            && l.contains("operator stopped")
            && l.contains(&format!("cannot listen on {addr}"))),
        "no error line in:\n{stdout}"
    );
    drop(taken);
}
