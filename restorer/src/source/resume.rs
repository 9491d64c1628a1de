//! Resuming a dropped object-store download with a ranged read from the offset reached.
//!
//! `object_store` retries a dropped body itself, but only within its retry budget counted from
//! the first request (minutes), which a multi-hour restore outlives. This layer sits on top: when
//! the body stream fails or ends short of the object's size, it requests `offset..` again with
//! `If-Match` on the ETag (and the same version, when the store has versions), checks that the
//! size, ETag and returned range are those expected, and carries on. No byte is lost or
//! repeated. Attempts are bounded per stall: the count restarts after any progress.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore};

use super::read_ahead::read_ahead;
use super::{Input, SourceError};

/// How a dropped download is resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePolicy {
    /// Ranged re-reads tried after a drop before giving up; the count restarts after progress.
    pub max_attempts: u32,
    /// Wait before the first re-read; doubled on each further attempt.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl Default for ResumePolicy {
    fn default() -> Self {
        ResumePolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(15),
        }
    }
}

impl ResumePolicy {
    /// The wait before attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }
}

type Body = BoxStream<'static, object_store::Result<Bytes>>;

/// The state of a resumable download.
struct Download {
    store: Arc<dyn ObjectStore>,
    path: Path,
    name: String,
    policy: ResumePolicy,
    size: u64,
    e_tag: Option<String>,
    version: Option<String>,
    /// Bytes delivered so far.
    offset: u64,
    /// The current response body; `None` after a drop.
    body: Option<Body>,
    /// Failed attempts since the last progress.
    failures: u32,
    done: bool,
}

/// Opens `path` in `store` and returns a stream that resumes after drops.
pub async fn open(
    store: Arc<dyn ObjectStore>,
    path: Path,
    name: String,
    policy: ResumePolicy,
) -> Result<Input, SourceError> {
    let res =
        store
            .get_opts(&path, GetOptions::default())
            .await
            .map_err(|source| match source {
                object_store::Error::NotFound { .. } => SourceError::NotFound {
                    location: name.clone(),
                },
                source => SourceError::Store {
                    location: name.clone(),
                    action: "open",
                    source,
                },
            })?;
    let size = res.meta.size;
    let download = Download {
        e_tag: res.meta.e_tag.clone(),
        version: res.meta.version.clone(),
        body: Some(res.into_stream()),
        store,
        path,
        name: name.clone(),
        policy,
        size,
        offset: 0,
        failures: 0,
        done: false,
    };
    let stream = futures::stream::unfold(download, |mut d| async move {
        let item = d.next_chunk().await?;
        Some((item, d))
    });
    Ok(Input::new(name, Some(size), read_ahead(stream.boxed())))
}

impl Download {
    /// The next chunk, `None` at the end, or a final error.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, SourceError>> {
        if self.done {
            return None;
        }
        loop {
            let dropped: Box<dyn std::error::Error + Send + Sync> = match self.body.as_mut() {
                Some(body) => match body.next().await {
                    Some(Ok(chunk)) if chunk.is_empty() => continue,
                    Some(Ok(chunk)) => return Some(self.deliver(chunk)),
                    Some(Err(e)) => Box::new(e),
                    None if self.offset == self.size => {
                        self.done = true;
                        return None;
                    }
                    None => format!(
                        "the response ended at byte {} of {}",
                        self.offset, self.size
                    )
                    .into(),
                },
                None => "no response".into(),
            };
            self.body = None;
            if self.offset == self.size {
                // Everything arrived; the error came after the last byte.
                self.done = true;
                return None;
            }
            if let Err(e) = self.reconnect(dropped).await {
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    /// Counts a chunk, refusing bytes beyond the object's size.
    fn deliver(&mut self, chunk: Bytes) -> Result<Bytes, SourceError> {
        let end = self.offset + chunk.len() as u64;
        if end > self.size {
            self.done = true;
            return Err(SourceError::Changed {
                location: self.name.clone(),
                detail: format!("received byte {end} of an object of {} bytes", self.size),
            });
        }
        self.offset = end;
        self.failures = 0;
        Ok(chunk)
    }

    /// Re-requests `offset..` until a body is open, or fails after the allowed attempts.
    async fn reconnect(
        &mut self,
        mut last: Box<dyn std::error::Error + Send + Sync>,
    ) -> Result<(), SourceError> {
        loop {
            if self.failures >= self.policy.max_attempts {
                return Err(SourceError::ReadFailed {
                    location: self.name.clone(),
                    offset: self.offset,
                    attempts: self.failures,
                    source: last,
                });
            }
            self.failures += 1;
            tracing::warn!(
                location = %self.name,
                offset = self.offset,
                size = self.size,
                attempt = self.failures,
                error = %last,
                "download interrupted; resuming with a ranged read"
            );
            tokio::time::sleep(self.policy.backoff(self.failures)).await;
            let opts = GetOptions {
                range: Some(GetRange::Offset(self.offset)),
                if_match: self.e_tag.clone(),
                version: self.version.clone(),
                ..GetOptions::default()
            };
            match self.store.get_opts(&self.path, opts).await {
                Ok(res) => {
                    self.check_same_object(&res)?;
                    self.body = Some(res.into_stream());
                    return Ok(());
                }
                Err(object_store::Error::Precondition { .. }) => {
                    return Err(SourceError::Changed {
                        location: self.name.clone(),
                        detail: "its ETag no longer matches".into(),
                    });
                }
                // The object, or the version being read (GCS generation, S3 version), is gone.
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(SourceError::Changed {
                        location: self.name.clone(),
                        detail: "the version being read no longer exists".into(),
                    });
                }
                Err(e) => last = Box::new(e),
            }
        }
    }

    /// Checks that a resumed response is the same object, from the offset reached.
    fn check_same_object(&self, res: &GetResult) -> Result<(), SourceError> {
        let changed = |detail: String| SourceError::Changed {
            location: self.name.clone(),
            detail,
        };
        if res.meta.size != self.size {
            return Err(changed(format!(
                "size was {}, is now {}",
                self.size, res.meta.size
            )));
        }
        if self.e_tag.is_some() && res.meta.e_tag != self.e_tag {
            return Err(changed("its ETag no longer matches".into()));
        }
        if res.range.start != self.offset {
            return Err(changed(format!(
                "asked for bytes from {}, got {}..{}",
                self.offset, res.range.start, res.range.end
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let p = ResumePolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        let waits: Vec<_> = (1..=5).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 350, 350, 350]);
        assert_eq!(p.backoff(200), Duration::from_millis(350));
    }
}
