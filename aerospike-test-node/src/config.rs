//! Cluster configuration.

/// How to start a [`TestCluster`](crate::TestCluster).
///
/// Build it with struct-update syntax so new fields do not break callers:
/// `ClusterConfig { nodes: 3, ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Number of nodes (each listens on its own port of 127.0.0.1). Default 1.
    pub nodes: usize,
    /// Namespaces served. Default `["test", "bar"]`.
    pub namespaces: Vec<String>,
    /// Whether batch-index requests (and so batch writes) are enabled. When false the node
    /// reports `batch-index-threads=0` and answers batch requests with 150 (batch disabled),
    /// as a server configured that way does. Default true.
    pub batch_writes: bool,
    /// Largest record accepted, the namespace's `max-record-size` (the name is from the
    /// servers before 7.0); larger writes get 13 (record too big). Sizes are counted as 8.1
    /// stores records (see the README). Default 1 MiB, the 8.1 default.
    pub write_block_size: usize,
    /// TTL applied to writes that send TTL 0 (namespace default); 0 = never expire. Default 0.
    pub default_ttl: u32,
    /// Value of the `cluster-name` info command. Default `"null"` (no name configured).
    pub cluster_name: String,
    /// Value of the `build` info command; the client picks protocol variants from it.
    /// Default `"8.1.2.0"` (the version the node's behaviours were last checked against).
    pub build: String,
    /// Port of the first node (the others take the next ports); 0 = ephemeral ports. Default 0.
    pub base_port: u16,
    /// Keep bin values. When false (for large benchmarks) every write is checked as usual, then
    /// only the record's metadata (set, key, generation, void time) is kept: reads return no
    /// bins and memory per record stays small. Default true.
    pub store_bins: bool,
    /// Accept zlib-compressed requests (message type 4), as an Enterprise server does.
    /// Community Edition 8.1.2.0 answers them with 25 (enterprise only). Default false.
    pub compression: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nodes: 1,
            namespaces: vec!["test".to_string(), "bar".to_string()],
            batch_writes: true,
            write_block_size: 1 << 20,
            default_ttl: 0,
            cluster_name: "null".to_string(),
            build: "8.1.2.0".to_string(),
            base_port: 0,
            store_bins: true,
            compression: false,
        }
    }
}
