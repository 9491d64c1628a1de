//! Secondary indexes and UDF modules (format §4.7): indexes are created, matched ones
//! skipped, mismatched ones dropped and recreated; UDFs are registered.

use std::sync::Arc;
use std::time::Duration;

use aerospike::policy::AdminPolicy;
use aerospike::{Client, Node, UdfLang};
use asb_format::{IndexPath, IndexType, PathType, SecondaryIndex, Udf};

use crate::stats::{Counters, inc};

/// Polls after dropping a mismatched index (10 × 1 s, as asrestore).
const DROP_POLLS: u32 = 10;

/// An index or UDF could not be restored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GlobalError {
    /// A name the info protocol cannot carry.
    #[error(
        "index {index:?}: {what} {value:?} cannot be sent (not UTF-8, or contains ';' ':' or '=')"
    )]
    BadName {
        /// Index name.
        index: String,
        /// Which field.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The cluster has no nodes.
    #[error("no cluster node available for {0}")]
    NoNode(String),
    /// An info command failed.
    #[error("{what} failed: {message}")]
    Info {
        /// What was being done.
        what: String,
        /// The server's or client's message.
        message: String,
    },
    /// The old index did not go away.
    #[error("index {0:?} was dropped to be recreated but is still present after 10 s")]
    DropTimeout(String),
}

/// The definition of an index as the info protocol spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    /// Namespace (after renaming).
    pub namespace: String,
    /// Set, empty for the whole namespace.
    pub set: String,
    /// Index name.
    pub name: String,
    /// Bin.
    pub bin: String,
    /// `numeric`, `string`, `geo2dsphere` or `blob`.
    pub value_type: &'static str,
    /// `default`, `list`, `mapkeys` or `mapvalues`.
    pub collection: &'static str,
    /// Base64 CDT context, if any.
    pub context: Option<String>,
}

fn info_safe(index: &str, what: &'static str, b: &[u8]) -> Result<String, GlobalError> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.contains([';', ':', '=']) => Ok(s.to_string()),
        _ => Err(GlobalError::BadName {
            index: index.to_string(),
            what,
            value: String::from_utf8_lossy(b).into_owned(),
        }),
    }
}

impl IndexDef {
    /// From a `* i` line, with the (possibly renamed) namespace.
    pub fn from_backup(idx: &SecondaryIndex, namespace: String) -> Result<IndexDef, GlobalError> {
        let name = String::from_utf8_lossy(&idx.name).into_owned();
        let name = info_safe(&name, "name", &idx.name)?;
        let Some(IndexPath { bin, path_type }) = idx.paths.first() else {
            return Err(GlobalError::BadName {
                index: name,
                what: "path",
                value: String::new(),
            });
        };
        if idx.expression {
            return Err(GlobalError::BadName {
                index: name,
                what: "expression index",
                value: "not supported".into(),
            });
        }
        Ok(IndexDef {
            set: info_safe(&name, "set", &idx.set)?,
            bin: info_safe(&name, "bin", bin)?,
            value_type: match path_type {
                PathType::String => "string",
                PathType::Numeric => "numeric",
                PathType::Geo2dSphere => "geo2dsphere",
                PathType::Blob => "blob",
            },
            collection: match idx.index_type {
                IndexType::Default => "default",
                IndexType::List => "list",
                IndexType::MapKeys => "mapkeys",
                IndexType::MapValues => "mapvalues",
            },
            context: idx
                .context
                .as_ref()
                .map(|c| String::from_utf8_lossy(c).into_owned()),
            name,
            namespace,
        })
    }

    /// The `sindex-create` command for a server of the given major.minor version.
    pub fn create_command(&self, new_syntax: bool) -> String {
        let mut cmd = if new_syntax {
            format!("sindex-create:namespace={}", self.namespace)
        } else {
            format!("sindex-create:ns={}", self.namespace)
        };
        if !self.set.is_empty() {
            cmd.push_str(&format!(";set={}", self.set));
        }
        cmd.push_str(&format!(";indexname={}", self.name));
        if let Some(ctx) = &self.context {
            cmd.push_str(&format!(";context={ctx}"));
        }
        if self.collection != "default" {
            cmd.push_str(&format!(";indextype={}", self.collection));
        }
        if new_syntax {
            cmd.push_str(&format!(";bin={};type={}", self.bin, self.value_type));
        } else {
            cmd.push_str(&format!(";indexdata={},{}", self.bin, self.value_type));
        }
        cmd
    }

    /// Whether a `sindex-list` entry describes the same index.
    pub fn matches(&self, entry: &str) -> bool {
        let get = |k: &str| {
            entry
                .split(':')
                .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .map(|v| {
                    if v.eq_ignore_ascii_case("null") {
                        ""
                    } else {
                        v
                    }
                })
        };
        let same_type = get("type").is_some_and(|t| {
            t.eq_ignore_ascii_case(self.value_type)
                || (self.value_type == "numeric" && t.eq_ignore_ascii_case("integer"))
        });
        get("set").unwrap_or("") == self.set
            && get("bin").or_else(|| get("path")) == Some(self.bin.as_str())
            && same_type
            && get("indextype")
                .unwrap_or("default")
                .eq_ignore_ascii_case(self.collection)
            && get("context").unwrap_or("") == self.context.as_deref().unwrap_or("")
    }
}

fn any_node(client: &Client, what: &str) -> Result<Arc<Node>, GlobalError> {
    client
        .nodes()
        .into_iter()
        .next()
        .ok_or_else(|| GlobalError::NoNode(what.to_string()))
}

async fn info(client: &Client, cmd: &str, what: &str) -> Result<String, GlobalError> {
    let node = any_node(client, what)?;
    let res = node
        .info(&AdminPolicy::default(), &[cmd])
        .await
        .map_err(|e| GlobalError::Info {
            what: what.to_string(),
            message: e.to_string(),
        })?;
    Ok(res.get(cmd).cloned().unwrap_or_default())
}

fn check_ok(resp: &str, what: &str) -> Result<(), GlobalError> {
    let r = resp.trim();
    if r.is_empty() || r.eq_ignore_ascii_case("ok") {
        Ok(())
    } else {
        Err(GlobalError::Info {
            what: what.to_string(),
            message: r.to_string(),
        })
    }
}

async fn find_index(client: &Client, def: &IndexDef) -> Result<Option<String>, GlobalError> {
    let list = info(
        client,
        &format!("sindex-list:ns={};b64=true", def.namespace),
        "listing indexes",
    )
    .await?;
    Ok(list
        .split(';')
        .find(|e| {
            e.split(':')
                .any(|kv| kv.strip_prefix("indexname=") == Some(def.name.as_str()))
        })
        .map(str::to_string))
}

/// Restores one index: create, or skip when an identical one exists, or drop and recreate.
pub async fn restore_index(
    client: &Client,
    def: &IndexDef,
    counters: &Counters,
) -> Result<(), GlobalError> {
    let what = format!("creating index {:?}", def.name);
    if let Some(existing) = find_index(client, def).await? {
        if def.matches(&existing) {
            inc(&counters.matched_indexes);
            tracing::info!(index = %def.name, "index already present with the same definition");
            counters.note_index(&def.namespace, &def.name);
            return Ok(());
        }
        inc(&counters.mismatched_indexes);
        tracing::warn!(index = %def.name, "index present with another definition: recreating it");
        let cmd = format!("sindex-delete:ns={};indexname={}", def.namespace, def.name);
        check_ok(&info(client, &cmd, &what).await?, &what)?;
        let mut gone = false;
        for _ in 0..DROP_POLLS {
            if find_index(client, def).await?.is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if !gone {
            return Err(GlobalError::DropTimeout(def.name.clone()));
        }
    }
    let node = any_node(client, &what)?;
    let v = node.version();
    let new_syntax = (v.major, v.minor) >= (8, 1);
    let cmd = def.create_command(new_syntax);
    check_ok(&info(client, &cmd, &what).await?, &what)?;
    counters.note_index(&def.namespace, &def.name);
    Ok(())
}

/// Registers one UDF module.
pub async fn restore_udf(
    client: &Client,
    udf: &Udf,
    counters: &Counters,
) -> Result<(), GlobalError> {
    let name = String::from_utf8_lossy(&udf.name).into_owned();
    client
        .register_udf(&AdminPolicy::default(), &udf.content, &name, UdfLang::Lua)
        .await
        .map_err(|e| GlobalError::Info {
            what: format!("registering UDF {name:?}"),
            message: e.to_string(),
        })?;
    inc(&counters.udfs);
    counters.note_udf(&name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn idx() -> SecondaryIndex {
        SecondaryIndex {
            namespace: Bytes::from_static(b"test"),
            set: Bytes::from_static(b"s"),
            name: Bytes::from_static(b"i1"),
            index_type: IndexType::List,
            paths: vec![IndexPath {
                bin: Bytes::from_static(b"b"),
                path_type: PathType::Numeric,
            }],
            context: None,
            expression: false,
        }
    }

    #[test]
    fn create_commands() {
        let d = IndexDef::from_backup(&idx(), "bar".into()).unwrap();
        assert_eq!(
            d.create_command(true),
            "sindex-create:namespace=bar;set=s;indexname=i1;indextype=list;bin=b;type=numeric"
        );
        assert_eq!(
            d.create_command(false),
            "sindex-create:ns=bar;set=s;indexname=i1;indextype=list;indexdata=b,numeric"
        );
    }

    #[test]
    fn matching_a_listed_index() {
        let d = IndexDef::from_backup(&idx(), "test".into()).unwrap();
        let same = "ns=test:indexname=i1:set=s:bin=b:type=numeric:indextype=list:context=NULL:exp=NULL:state=RW";
        assert!(d.matches(same));
        let other = same.replace("type=numeric", "type=string");
        assert!(!d.matches(&other));
        let other = same.replace("set=s", "set=NULL");
        assert!(!d.matches(&other));
        assert!(
            d.matches(&same.replace("NULL", "null")),
            "servers spell null either way"
        );
    }

    #[test]
    fn names_that_break_the_info_protocol_are_rejected() {
        let mut i = idx();
        i.paths[0].bin = Bytes::from_static(b"a;b");
        assert!(IndexDef::from_backup(&i, "test".into()).is_err());
    }
}
