//! Cluster-wide metadata: secondary index definitions and UDF modules.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::cluster::{IndexInfo, UdfInfo};

/// Index and UDF registry shared by every node (as the real cluster's SMD is).
#[derive(Debug, Default)]
pub struct Meta {
    /// Secondary indexes.
    pub indexes: Vec<IndexInfo>,
    /// UDF modules.
    pub udfs: Vec<UdfInfo>,
}

/// Parameters `k=v;k=v` of an info command.
pub fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Meta {
    /// `sindex-create`: both the 8.1+ (`namespace=`, `bin=`, `type=`) and the older
    /// (`ns=`, `indexdata=bin,type`) forms. As the server does: the same name and definition
    /// again is `ok`; the same name with another definition is error 200; the same definition
    /// under a new name renames the index.
    pub fn sindex_create(&mut self, params: &str, namespaces: &[String]) -> String {
        let ns = param(params, "namespace").or_else(|| param(params, "ns"));
        let Some(ns) = ns else {
            return "ERROR:4:missing 'namespace'".into();
        };
        if !namespaces.iter().any(|n| n == ns) {
            return "ERROR:4:namespace not found".into();
        }
        let Some(name) = param(params, "indexname").filter(|n| !n.is_empty()) else {
            return "ERROR:4:missing 'indexname'".into();
        };
        let collection = param(params, "indextype")
            .unwrap_or("default")
            .to_ascii_lowercase();
        let (bin, itype) = match (param(params, "indexdata"), param(params, "type")) {
            (Some(data), _) => match data.split_once(',') {
                Some((b, t)) => (b.to_string(), t.to_ascii_lowercase()),
                None => return "ERROR:4:bad 'indexdata'".into(),
            },
            (None, Some(t)) => (
                param(params, "bin").unwrap_or_default().to_string(),
                t.to_ascii_lowercase(),
            ),
            (None, None) if collection == "set" => (String::new(), String::new()),
            (None, None) => return "ERROR:4:missing 'type'".into(),
        };
        let itype = match itype.as_str() {
            // 8.2 spells numeric "integer"; the index lists it as numeric either way.
            "numeric" | "integer" => "numeric".to_string(),
            "" | "string" | "geo2dsphere" | "blob" => itype,
            _ => return "ERROR:4:bad 'type'".into(),
        };
        if !matches!(
            collection.as_str(),
            "default" | "list" | "mapkeys" | "mapvalues" | "set"
        ) {
            return "ERROR:4:bad 'indextype'".into();
        }
        if bin.len() > 15 {
            return "ERROR:4:bin name too long".into();
        }
        let wanted = IndexInfo {
            namespace: ns.to_string(),
            set: param(params, "set")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            name: name.to_string(),
            bin,
            index_type: itype,
            collection,
            context: param(params, "context").map(str::to_string),
            expression: param(params, "exp").map(str::to_string),
        };
        let same_definition = |i: &IndexInfo| {
            IndexInfo {
                name: wanted.name.clone(),
                ..i.clone()
            } == wanted
        };
        if let Some(existing) = self
            .indexes
            .iter()
            .find(|i| i.namespace == ns && i.name == name)
        {
            return if same_definition(existing) {
                "ok".into()
            } else {
                "ERROR:200:'indexname' already exists with different definition".into()
            };
        }
        match self.indexes.iter_mut().find(|i| same_definition(i)) {
            Some(renamed) => renamed.name = wanted.name,
            None => self.indexes.push(wanted),
        }
        "ok".into()
    }

    /// `sindex-delete` (`ok` also when there is no such index, as the server answers).
    pub fn sindex_delete(&mut self, params: &str) -> String {
        let ns = param(params, "namespace").or_else(|| param(params, "ns"));
        let name = param(params, "indexname");
        self.indexes
            .retain(|i| Some(i.namespace.as_str()) != ns || Some(i.name.as_str()) != name);
        "ok".into()
    }

    fn find_index(&self, params: &str) -> Option<&IndexInfo> {
        let ns = param(params, "namespace").or_else(|| param(params, "ns"))?;
        let name = param(params, "indexname")?;
        self.indexes
            .iter()
            .find(|i| i.namespace == ns && i.name == name)
    }

    /// `sindex-exists`: `true` / `false`.
    pub fn sindex_exists(&self, params: &str) -> String {
        self.find_index(params).is_some().to_string()
    }

    /// `sindex-stat` for one index (`load_pct=100`: indexes build instantly here).
    pub fn sindex_stat(&self, params: &str) -> String {
        match self.find_index(params) {
            Some(_) => "keys=0;entries=0;load_pct=100;loadtime=0".into(),
            None => "ERROR:201:no index".into(),
        }
    }

    /// `sindex-list`, optionally limited to one namespace, in the 8.x format (every entry
    /// ends with `;`, absent parts are `null`).
    pub fn sindex_list(&self, params: &str) -> String {
        let ns = param(params, "namespace").or_else(|| param(params, "ns"));
        self.indexes
            .iter()
            .filter(|i| ns.is_none_or(|n| n == i.namespace))
            .map(|i| {
                format!(
                    "ns={}:indexname={}:set={}:bin={}:type={}:indextype={}:context={}:exp={}:state=RW;",
                    i.namespace,
                    i.name,
                    i.set.as_deref().unwrap_or("null"),
                    if i.bin.is_empty() { "null" } else { &i.bin },
                    i.index_type,
                    i.collection,
                    i.context.as_deref().unwrap_or("null"),
                    i.expression.as_deref().unwrap_or("null"),
                )
            })
            .collect()
    }

    /// `udf-put`: content is base64.
    pub fn udf_put(&mut self, params: &str) -> String {
        let Some(name) = param(params, "filename").filter(|n| !n.is_empty()) else {
            return "error=invalid_filename".into();
        };
        let Some(content) = param(params, "content") else {
            return "error=empty_content".into();
        };
        let Ok(decoded) = BASE64.decode(content) else {
            return "error=invalid_base64_content".into();
        };
        if let Some(len) = param(params, "content-len")
            && len.parse::<usize>().ok() != Some(content.len())
        {
            return "error=invalid_content_len".into();
        }
        let language = param(params, "udf-type").unwrap_or("LUA").to_string();
        self.udfs.retain(|u| u.name != name);
        self.udfs.push(UdfInfo {
            name: name.to_string(),
            language,
            content: decoded,
        });
        "ok".into()
    }

    /// `udf-list`: `filename=..,hash=..,type=LUA;` per module.
    pub fn udf_list(&self) -> String {
        self.udfs
            .iter()
            .map(|u| {
                format!(
                    "filename={},hash={},type={};",
                    u.name,
                    content_hash(&u.content),
                    u.language
                )
            })
            .collect()
    }

    /// `udf-get`.
    pub fn udf_get(&self, params: &str) -> String {
        let name = param(params, "filename");
        match self.udfs.iter().find(|u| Some(u.name.as_str()) == name) {
            Some(u) => format!("type={};content={};", u.language, BASE64.encode(&u.content)),
            None => "error=not_found".into(),
        }
    }

    /// `udf-remove` (`ok` also when there is no such module, as the server answers).
    pub fn udf_remove(&mut self, params: &str) -> String {
        let Some(name) = param(params, "filename").filter(|n| !n.is_empty()) else {
            return "error=invalid_filename".into();
        };
        self.udfs.retain(|u| u.name != name);
        "ok".into()
    }
}

/// 40 hex digits identifying the content (FNV-1a based; the server uses SHA-1, and clients
/// only compare hashes with each other).
fn content_hash(content: &[u8]) -> String {
    let mut out = String::with_capacity(40);
    for seed in 0u64..3 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for b in content {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(40);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sindex_lifecycle_both_syntaxes() {
        let mut m = Meta::default();
        let ns = vec!["test".to_string()];
        let i1 = "namespace=test;set=s;indexname=i1;bin=b;type=numeric";
        assert_eq!(m.sindex_create(i1, &ns), "ok");
        assert_eq!(m.sindex_create(i1, &ns), "ok", "same definition again");
        let i2 = "ns=test;indexname=i2;indexdata=c,STRING";
        assert_eq!(m.sindex_create(i2, &ns), "ok");
        assert!(
            m.sindex_create("ns=test;indexname=i2;indexdata=d,STRING", &ns)
                .starts_with("ERROR:200:")
        );
        assert!(
            m.sindex_create("ns=nope;indexname=i3;indexdata=c,STRING", &ns)
                .starts_with("ERROR:4:")
        );
        assert_eq!(
            m.sindex_list("ns=test;b64=true"),
            "ns=test:indexname=i1:set=s:bin=b:type=numeric:indextype=default:context=null:exp=null:state=RW;\
             ns=test:indexname=i2:set=null:bin=c:type=string:indextype=default:context=null:exp=null:state=RW;"
        );
        // the same definition under another name renames it
        assert_eq!(
            m.sindex_create("ns=test;indexname=i9;indexdata=c,string", &ns),
            "ok"
        );
        assert_eq!(m.sindex_exists("namespace=test;indexname=i2"), "false");
        assert_eq!(m.sindex_exists("namespace=test;indexname=i9"), "true");
        assert_eq!(m.sindex_exists("namespace=test;indexname=i1"), "true");
        assert!(
            m.sindex_stat("namespace=test;indexname=i1")
                .contains("load_pct=100")
        );
        assert_eq!(m.sindex_delete("namespace=test;indexname=i1"), "ok");
        assert_eq!(m.sindex_exists("namespace=test;indexname=i1"), "false");
        assert_eq!(m.sindex_delete("namespace=test;indexname=i1"), "ok");
        assert!(
            m.sindex_stat("namespace=test;indexname=i1")
                .starts_with("ERROR:201:")
        );
    }

    #[test]
    fn udf_lifecycle() {
        let mut m = Meta::default();
        let b64 = BASE64.encode(b"return 1");
        let cmd = format!(
            "filename=a.lua;content={b64};content-len={};udf-type=LUA;",
            b64.len()
        );
        assert_eq!(m.udf_put(&cmd), "ok");
        assert!(m.udf_list().starts_with("filename=a.lua,hash="));
        assert_eq!(
            m.udf_get("filename=a.lua"),
            format!("type=LUA;content={b64};")
        );
        assert_eq!(
            m.udf_put("filename=b.lua;content=!!!;"),
            "error=invalid_base64_content"
        );
        assert_eq!(m.udf_remove("filename=a.lua;"), "ok");
        assert_eq!(m.udf_list(), "");
        assert_eq!(m.udf_remove("filename=a.lua;"), "ok");
    }
}
