//! Which node masters each partition, from every node's `replicas` info answer.
//!
//! `replicas` answers `<ns>:<regime>,<replica count>,<bitmap>,<bitmap>...;...` where the first
//! bitmap (base64, 4096 bits, most significant bit first) marks the partitions the node
//! masters. When two nodes claim a partition (strong consistency during a change), the higher
//! regime wins.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::proto::PARTITIONS;

/// No node is known to master the partition.
const NONE: u16 = u16::MAX;

/// A `replicas` answer that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed replicas info for {namespace:?}: {what}")]
pub struct ReplicasError {
    /// The namespace being read.
    pub namespace: String,
    /// What is wrong.
    pub what: &'static str,
}

struct Table {
    master: Box<[u16]>,
    regime: Box<[u32]>,
}

/// Partition -> master node index, per namespace.
#[derive(Default)]
pub struct PartitionMap {
    namespaces: HashMap<Box<str>, Table>,
}

impl std::fmt::Debug for PartitionMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionMap")
            .field("namespaces", &self.namespaces.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PartitionMap {
    /// Adds what node `node` says it masters.
    pub fn add_node(&mut self, node: u16, replicas: &str) -> Result<(), ReplicasError> {
        for part in replicas.trim().split(';').filter(|p| !p.is_empty()) {
            let (ns, rest) = part.split_once(':').ok_or(ReplicasError {
                namespace: part.to_string(),
                what: "no ':'",
            })?;
            let err = |what| ReplicasError {
                namespace: ns.to_string(),
                what,
            };
            let mut items = rest.split(',');
            let regime: u32 = items
                .next()
                .and_then(|r| r.parse().ok())
                .ok_or(err("bad regime"))?;
            let _count: u32 = items
                .next()
                .and_then(|r| r.parse().ok())
                .ok_or(err("bad replica count"))?;
            let bitmap = items.next().ok_or(err("no master bitmap"))?;
            let bits = BASE64
                .decode(bitmap)
                .map_err(|_| err("bitmap is not base64"))?;
            if bits.len() < PARTITIONS / 8 {
                return Err(err("bitmap shorter than 4096 bits"));
            }
            let table = self.namespaces.entry(ns.into()).or_insert_with(|| Table {
                master: vec![NONE; PARTITIONS].into(),
                regime: vec![0; PARTITIONS].into(),
            });
            for p in 0..PARTITIONS {
                if bits[p >> 3] & (0x80 >> (p & 7)) == 0 {
                    continue;
                }
                if table.master[p] == NONE || regime >= table.regime[p] {
                    table.master[p] = node;
                    table.regime[p] = regime;
                }
            }
        }
        Ok(())
    }

    /// The node mastering `partition` of `namespace`, if known.
    #[inline]
    pub fn master(&self, namespace: &str, partition: usize) -> Option<u16> {
        self.namespace(namespace)?.master(partition)
    }

    /// The masters of one namespace's partitions, if the namespace is known.
    #[inline]
    pub fn namespace(&self, namespace: &str) -> Option<Masters<'_>> {
        self.namespaces.get(namespace).map(|t| Masters(&t.master))
    }
}

/// The masters of one namespace's partitions.
#[derive(Debug, Clone, Copy)]
pub struct Masters<'a>(&'a [u16]);

impl Masters<'_> {
    /// The node mastering `partition`, if known.
    #[inline]
    pub fn master(&self, partition: usize) -> Option<u16> {
        self.0.get(partition).copied().filter(|&n| n != NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitmap(parts: impl Fn(usize) -> bool) -> String {
        let mut b = vec![0u8; PARTITIONS / 8];
        for p in (0..PARTITIONS).filter(|&p| parts(p)) {
            b[p >> 3] |= 0x80 >> (p & 7);
        }
        BASE64.encode(b)
    }

    #[test]
    fn two_nodes_split_the_partitions() {
        let mut m = PartitionMap::default();
        let even = bitmap(|p| p % 2 == 0);
        let odd = bitmap(|p| p % 2 == 1);
        m.add_node(0, &format!("test:0,2,{even},{odd};bar:0,2,{even},{odd}"))
            .unwrap();
        m.add_node(1, &format!("test:0,2,{odd},{even};bar:0,2,{odd},{even};\n"))
            .unwrap();
        assert_eq!(m.master("test", 0), Some(0));
        assert_eq!(m.master("test", 1), Some(1));
        assert_eq!(m.master("bar", 4095), Some(1));
        assert_eq!(m.master("nope", 0), None);
    }

    #[test]
    fn the_higher_regime_wins() {
        let mut m = PartitionMap::default();
        let all = bitmap(|_| true);
        m.add_node(0, &format!("test:5,1,{all}")).unwrap();
        m.add_node(1, &format!("test:4,1,{all}")).unwrap();
        assert_eq!(m.master("test", 7), Some(0));
        m.add_node(2, &format!("test:6,1,{all}")).unwrap();
        assert_eq!(m.master("test", 7), Some(2));
    }

    #[test]
    fn unmastered_partitions_and_bad_answers() {
        let mut m = PartitionMap::default();
        m.add_node(0, &format!("test:0,1,{}", bitmap(|p| p < 10)))
            .unwrap();
        assert_eq!(m.master("test", 9), Some(0));
        assert_eq!(m.master("test", 10), None);
        assert!(m.add_node(0, "test").is_err());
        assert!(m.add_node(0, "test:x,1,AAAA").is_err());
        assert!(m.add_node(0, "test:0,1,AAAA").is_err());
        assert!(m.add_node(0, "test:0,1,!!!").is_err());
        assert!(m.add_node(0, "").is_ok());
    }
}
