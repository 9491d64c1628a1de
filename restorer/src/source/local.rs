//! Local files and standard input, read directly in large chunks on a reader thread.

use std::io::{ErrorKind, Read};
use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{Input, Location, READ_CHUNK, SourceError, is_backup_name};
use crate::chunk_pool::ChunkPool;

/// Chunks read ahead of the consumer.
const READ_AHEAD: usize = 2;

/// Opens a local file.
pub(super) async fn open_file(path: &Path, name: String) -> Result<Input, SourceError> {
    let io_err = |action, source: std::io::Error| match source.kind() {
        ErrorKind::NotFound => SourceError::NotFound {
            location: name.clone(),
        },
        _ => SourceError::Io {
            location: name.clone(),
            action,
            source,
        },
    };
    let file = std::fs::File::open(path).map_err(|e| io_err("open", e))?;
    let meta = file.metadata().map_err(|e| io_err("open", e))?;
    if meta.is_dir() {
        return Err(SourceError::Unsupported {
            location: name,
            reason: "is a directory (use -d to restore every backup file in it)".into(),
        });
    }
    // Pipes and devices have no meaningful length.
    let size = meta.is_file().then_some(meta.len());
    Ok(spawn_reader(name, size, file))
}

/// Opens standard input.
pub(super) fn open_stdin() -> Input {
    spawn_reader(Location::Stdin.to_string(), None, std::io::stdin())
}

/// Reads `reader` on its own thread into a bounded channel.
///
/// A plain thread, not `spawn_blocking`: a read of standard input may block forever, and the
/// runtime must not wait for it on shutdown. The thread ends at end of input, on an error, or
/// when the consumer drops the stream.
fn spawn_reader(name: String, size: Option<u64>, mut reader: impl Read + Send + 'static) -> Input {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, SourceError>>(READ_AHEAD);
    let thread_name = name.clone();
    let spawned = std::thread::Builder::new()
        .name("source-reader".into())
        .spawn(move || {
            let mut offset = 0u64;
            let mut pool = ChunkPool::new(READ_CHUNK);
            loop {
                match read_chunk(&mut reader, &mut pool) {
                    Ok(chunk) if chunk.is_empty() => return,
                    Ok(chunk) => {
                        offset += chunk.len() as u64;
                        pool.sent(&chunk);
                        if tx.blocking_send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Err(source) => {
                        let _ = tx.blocking_send(Err(SourceError::LocalRead {
                            location: thread_name,
                            offset,
                            source,
                        }));
                        return;
                    }
                }
            }
        });
    let stream = match spawned {
        Ok(_) => futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed(),
        Err(source) => futures::stream::iter([Err(SourceError::Io {
            location: name.clone(),
            action: "start a reader thread for",
            source,
        })])
        .boxed(),
    };
    Input::new(name, size, stream)
}

/// Reads up to [`READ_CHUNK`] bytes (fewer only at end of input); empty at end of input.
fn read_chunk(reader: &mut impl Read, pool: &mut ChunkPool) -> std::io::Result<Bytes> {
    let mut buf = pool.take();
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

/// Lists backup files directly inside a local directory, as (file name, location).
pub(super) async fn list_dir(
    dir: &Location,
    path: &Path,
) -> Result<Vec<(String, Location)>, SourceError> {
    let name = dir.to_string();
    let io_err = |source: std::io::Error| match source.kind() {
        ErrorKind::NotFound => SourceError::NotFound {
            location: name.clone(),
        },
        _ => SourceError::Io {
            location: name.clone(),
            action: "list",
            source,
        },
    };
    let mut entries = tokio::fs::read_dir(path).await.map_err(io_err)?;
    let mut found = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !is_backup_name(&file_name) {
            continue;
        }
        // Follows symlinks, so a link to a backup file counts as a file.
        let is_file = tokio::fs::metadata(entry.path())
            .await
            .map(|m| m.is_file())
            .unwrap_or(false);
        if !is_file {
            continue;
        }
        let loc = match dir {
            Location::Url(u) => {
                let mut u = u.clone();
                let mut segments =
                    u.path_segments_mut()
                        .map_err(|()| SourceError::Unsupported {
                            location: name.clone(),
                            reason: "not a directory URL".into(),
                        })?;
                segments.pop_if_empty().push(&file_name);
                drop(segments);
                Location::Url(u)
            }
            _ => Location::Path(entry.path()),
        };
        found.push((file_name, loc));
    }
    Ok(found)
}
