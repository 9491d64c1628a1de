//! `restorer`: restore Aerospike `.asb` backups (see DESIGN §3).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
