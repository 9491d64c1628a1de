use aerospike::{
    BatchOperation, BatchPolicy, BatchWritePolicy, Bin, Bins, Client, ClientPolicy, Key,
    ReadPolicy, Value, WritePolicy, operations,
};
use aerospike_test_node::{ClusterConfig, TestCluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_batch() {
    let c = TestCluster::start(ClusterConfig {
        nodes: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = Client::new(&ClientPolicy::default(), &c.seeds())
        .await
        .unwrap();
    let key = Key::new("test", "smoke", Value::from("k1")).unwrap();
    client
        .put(
            &WritePolicy::default(),
            &key,
            &[Bin::new("a", Value::from(7))],
        )
        .await
        .unwrap();
    let rec = client
        .get(&ReadPolicy::default(), &key, Bins::All)
        .await
        .unwrap();
    assert_eq!(rec.bins.get("a"), Some(&Value::from(7)));
    let bwp = BatchWritePolicy::default();
    let mut ops: Vec<BatchOperation> = (0..100)
        .map(|i| {
            let k = Key::new("test", "smoke", Value::from(i)).unwrap();
            BatchOperation::write(
                &bwp,
                k,
                vec![operations::put(&Bin::new("b", Value::from(i)))],
            )
        })
        .collect();
    client
        .batch(&BatchPolicy::default(), &mut ops)
        .await
        .unwrap();
    for op in &ops {
        assert_eq!(
            op.result_code(),
            Some(aerospike::ResultCode::Ok),
            "{:?}",
            op.error()
        );
    }
    assert_eq!(c.record_count("test", Some("smoke")), 101);
    let r = c.record("test", &key.digest()).unwrap();
    assert_eq!(r.generation, 1);
    for i in 0..3 {
        assert!(c.node_requests(i) > 0, "node {i}");
    }
}
