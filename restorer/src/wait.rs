//! `-w/--wait`: after the restore, wait until every restored secondary index is built
//! (`load_pct=100` in `sindex-stat` on every node) and every registered UDF module is listed by
//! `udf-list` on every node.

use std::time::{Duration, Instant};

use aerospike::Client;
use aerospike::policy::AdminPolicy;

use crate::stats::Counters;

/// Pause between two polls.
const POLL: Duration = Duration::from_millis(200);
/// A progress line while waiting, at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Waiting failed (the cluster stopped answering, or answered with an error).
#[derive(Debug, thiserror::Error)]
#[error("--wait: {0}")]
pub struct WaitError(String);

/// The value of `key=` in an info answer (`;` separated, or `:` in `sindex-list` entries).
fn field<'a>(answer: &'a str, key: &str) -> Option<&'a str> {
    answer
        .split([';', ':'])
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Whether `udf-list` lists `name`.
fn udf_listed(answer: &str, name: &str) -> bool {
    answer.split(';').any(|e| {
        e.split(',')
            .any(|kv| kv.strip_prefix("filename=") == Some(name))
    })
}

async fn ask(node: &aerospike::Node, cmd: &str) -> Result<String, WaitError> {
    let policy = AdminPolicy::default();
    let answer = node
        .info(&policy, &[cmd])
        .await
        .map_err(|e| WaitError(format!("node {}: {cmd}: {e}", node.name())))?;
    Ok(answer.get(cmd).cloned().unwrap_or_default())
}

/// Whether the index is built on this node.
async fn index_built(node: &aerospike::Node, ns: &str, name: &str) -> Result<bool, WaitError> {
    let cmd = format!("sindex-stat:namespace={ns};indexname={name}");
    let answer = ask(node, &cmd).await?;
    if let Some(pct) = field(&answer, "load_pct") {
        return Ok(pct.trim() == "100");
    }
    // Without load_pct (or not known yet): the list says RW once it is usable.
    let list = ask(node, &format!("sindex-list:ns={ns}")).await?;
    Ok(list.split(';').any(|e| {
        field(e, "indexname") == Some(name) && field(e, "state").is_some_and(|s| s == "RW")
    }))
}

/// Waits for the indexes and UDFs noted in `counters`; returns how many of each were waited
/// for.
pub async fn wait_for_globals(
    client: &Client,
    counters: &Counters,
) -> Result<(usize, usize), WaitError> {
    let mut indexes = counters
        .restored_indexes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    indexes.sort();
    indexes.dedup();
    let mut udfs = counters
        .restored_udfs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    udfs.sort();
    udfs.dedup();
    let start = Instant::now();
    let mut last_report = start;
    loop {
        let nodes = client.nodes();
        if nodes.is_empty() {
            return Err(WaitError("no node of the cluster is reachable".into()));
        }
        let mut pending_indexes = 0usize;
        let mut pending_udfs = 0usize;
        for node in &nodes {
            for (ns, name) in &indexes {
                if !index_built(node, ns, name).await? {
                    pending_indexes += 1;
                }
            }
            if !udfs.is_empty() {
                let list = ask(node, "udf-list").await?;
                pending_udfs += udfs.iter().filter(|u| !udf_listed(&list, u)).count();
            }
        }
        if pending_indexes == 0 && pending_udfs == 0 {
            tracing::info!(
                indexes = indexes.len(),
                udfs = udfs.len(),
                nodes = nodes.len(),
                "waited {:.1} s for {} secondary index(es) to be built and {} UDF(s) to reach \
                 every node",
                start.elapsed().as_secs_f64(),
                indexes.len(),
                udfs.len()
            );
            return Ok((indexes.len(), udfs.len()));
        }
        if last_report.elapsed() >= REPORT_EVERY {
            tracing::info!(
                "waiting for {pending_indexes} index build(s) and {pending_udfs} UDF \
                 distribution(s) (node count included)"
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        assert_eq!(
            field("keys=0;entries=0;load_pct=42;loadtime=0", "load_pct"),
            Some("42")
        );
        assert_eq!(
            field("ns=test:indexname=i1:set=s:state=WO", "state"),
            Some("WO")
        );
        assert!(udf_listed(
            "filename=a.lua,hash=x,type=LUA;filename=b.lua,hash=y,type=LUA;",
            "b.lua"
        ));
        assert!(!udf_listed("filename=ab.lua,hash=x,type=LUA;", "b.lua"));
    }
}
