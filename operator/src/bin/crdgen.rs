//! Writes the CRDs as YAML: `crdgen` prints both; `crdgen <dir>` writes `<dir>/<plural>.yaml`.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1) {
        Some(dir) => {
            for (file, yaml) in operator::crd_yaml::all()? {
                let path = std::path::Path::new(&dir).join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
        None => {
            for (_, yaml) in operator::crd_yaml::all()? {
                print!("---\n{yaml}");
            }
        }
    }
    Ok(())
}
