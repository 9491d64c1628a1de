//! Read-ahead for network streams: a task keeps downloading while the consumer (the
//! decompressor) is busy, gathering the small HTTP frames into chunks of about [`READ_CHUNK`]
//! bytes, with at most [`AHEAD_CHUNKS`] chunks waiting (bounded memory, backpressure kept).

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use super::{READ_CHUNK, SourceError};

/// Chunks downloaded ahead of the consumer.
pub const AHEAD_CHUNKS: usize = 4;

type Chunks = BoxStream<'static, Result<Bytes, SourceError>>;

/// Spawns a task that pulls `stream` ahead of the consumer. Must be called inside a tokio
/// runtime. The task stops when the stream ends or fails, or when the result is dropped.
pub fn read_ahead(mut stream: Chunks) -> Chunks {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, SourceError>>(AHEAD_CHUNKS);
    tokio::spawn(async move {
        let mut pending = BytesMut::new();
        loop {
            // Send what was gathered once it is a full chunk, or when nothing more is ready.
            let next = if pending.is_empty() {
                stream.next().await
            } else {
                match futures::poll!(stream.next()) {
                    std::task::Poll::Ready(item) => item,
                    std::task::Poll::Pending => {
                        if tx.send(Ok(pending.split().freeze())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                }
            };
            match next {
                Some(Ok(chunk)) => {
                    if pending.is_empty() && chunk.len() >= READ_CHUNK {
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    pending.extend_from_slice(&chunk);
                    if pending.len() >= READ_CHUNK
                        && tx.send(Ok(pending.split().freeze())).await.is_err()
                    {
                        return;
                    }
                }
                Some(Err(e)) => {
                    if !pending.is_empty() && tx.send(Ok(pending.split().freeze())).await.is_err() {
                        return;
                    }
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                None => {
                    if !pending.is_empty() {
                        let _ = tx.send(Ok(pending.freeze())).await;
                    }
                    return;
                }
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gathers_small_frames_and_keeps_order_and_errors() {
        let data: Vec<u8> = (0..3 * READ_CHUNK + 5).map(|i| (i % 251) as u8).collect();
        let mut items: Vec<Result<Bytes, SourceError>> = data
            .chunks(16 * 1024 + 3)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        items.push(Err(SourceError::NotFound {
            location: "x".into(),
        }));
        let mut out: Vec<_> = read_ahead(futures::stream::iter(items).boxed())
            .collect()
            .await;
        assert!(matches!(out.pop(), Some(Err(SourceError::NotFound { .. }))));
        let chunks: Vec<Bytes> = out.into_iter().map(Result::unwrap).collect();
        let (last, full) = chunks.split_last().unwrap();
        assert!(
            full.iter().all(|c| c.len() >= READ_CHUNK),
            "frames gathered into 1 MiB chunks"
        );
        assert!(!last.is_empty());
        assert_eq!(chunks.concat(), data);
    }

    #[tokio::test]
    async fn reads_ahead_only_a_bounded_amount() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let endless = futures::stream::repeat_with(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Bytes::from(vec![0u8; READ_CHUNK]))
        })
        .boxed();
        let mut ahead = read_ahead(endless);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let before = pulled.load(Ordering::SeqCst);
        assert!(
            before <= AHEAD_CHUNKS + 2,
            "pulled {before} chunks with no reader"
        );
        ahead.next().await.unwrap().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(pulled.load(Ordering::SeqCst) <= before + 1);
        drop(ahead);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let after = pulled.load(Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            after,
            "still pulling after drop"
        );
    }
}
