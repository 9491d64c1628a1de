//! Sends info commands to every node of a cluster and prints the answers, like `asinfo -v`.
//!
//! ```sh
//! cargo run --release -p restorer --example asinfo -- 127.0.0.1:3000 'truncate:namespace=bar;set=s1'
//! ```
//! Benchmarks use it to empty the sets they wrote between rounds.

use aerospike::policy::AdminPolicy;
use aerospike::{Client, ClientPolicy};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: asinfo HOST:PORT[,HOST:PORT...] COMMAND...";
    let hosts = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let commands: Vec<String> = args.collect();
    anyhow::ensure!(!commands.is_empty(), usage);
    let client = Client::new(&ClientPolicy::default(), &hosts).await?;
    let cmds: Vec<&str> = commands.iter().map(String::as_str).collect();
    for node in client.nodes() {
        let answers = node.info(&AdminPolicy::default(), &cmds).await?;
        for (cmd, answer) in answers {
            println!("{} {cmd}\t{answer}", node.name());
        }
    }
    client.close().await?;
    Ok(())
}
