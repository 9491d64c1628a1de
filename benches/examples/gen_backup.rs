//! Writes a generated backup to a file or stdout.
//!
//! `cargo run --release -p benches --example gen_backup -- <shape> <bytes> [<path>|-] [--no-keys] [--compact] [--distinct N]`
//! where shape is one of small, blobs, lists_maps, long_strings, mixed, large_blobs, many_bins;
//! `--distinct N` reuses the first N records' digests cyclically (a large backup that fits a
//! small namespace when restored with `--no-generation`).

use std::io::{BufWriter, Write};

use benches::r#gen::{GenOptions, Shape, write_backup};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: gen_backup <shape> <bytes> [<path>|-] [--no-keys] [--compact] [--distinct N]";
    let (Some(shape), Some(bytes)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Some(shape) = Shape::ALL.into_iter().find(|s| s.name() == shape) else {
        eprintln!("unknown shape {shape}; {usage}");
        std::process::exit(2);
    };
    let Ok(bytes) = bytes.parse::<u64>() else {
        eprintln!("bad byte count {bytes}; {usage}");
        std::process::exit(2);
    };
    let mut opts = GenOptions::new(shape, bytes);
    opts.keys = !args.iter().any(|a| a == "--no-keys");
    opts.compact = args.iter().any(|a| a == "--compact");
    if let Some(i) = args.iter().position(|a| a == "--distinct") {
        let Some(Ok(n)) = args.get(i + 1).map(|n| n.parse::<u64>()) else {
            eprintln!("--distinct needs a record count; {usage}");
            std::process::exit(2);
        };
        opts.distinct = n;
    }
    let path = args.get(2).filter(|p| !p.starts_with("--"));
    let mut out: Box<dyn Write> = match path.map(String::as_str) {
        None | Some("-") => Box::new(std::io::stdout().lock()),
        Some(p) => Box::new(std::fs::File::create(p)?),
    };
    let mut w = BufWriter::with_capacity(1 << 20, &mut out);
    let stats = write_backup(&mut w, &opts)?;
    w.flush()?;
    eprintln!("{} records, {} bytes", stats.records, stats.bytes);
    Ok(())
}
