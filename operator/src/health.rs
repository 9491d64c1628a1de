//! A tiny HTTP endpoint for the Deployment's probes: `/healthz` (alive) and `/readyz` (ready).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The response line and body for a request path.
pub fn respond(path: &str, ready: bool) -> (&'static str, &'static str) {
    match path {
        "/healthz" => ("200 OK", "ok\n"),
        "/readyz" if ready => ("200 OK", "ok\n"),
        "/readyz" => ("503 Service Unavailable", "not ready\n"),
        _ => ("404 Not Found", "not found\n"),
    }
}

/// The path of an HTTP/1 request head (`GET /healthz HTTP/1.1`).
pub fn request_path(head: &[u8]) -> Option<&str> {
    let line = head.split(|&b| b == b'\n').next()?;
    let mut parts = std::str::from_utf8(line).ok()?.split_whitespace();
    let _method = parts.next()?;
    parts.next()
}

/// Serves the probes until the process ends.
pub async fn serve(listener: TcpListener, ready: Arc<AtomicBool>) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let ready = ready.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let Ok(n) = stream.read(&mut buf).await else {
                return;
            };
            let path = request_path(&buf[..n]).unwrap_or("");
            let (status, body) = respond(path, ready.load(Ordering::SeqCst));
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        });
    }
}
