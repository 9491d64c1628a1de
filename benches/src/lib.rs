//! Benchmarks of the `.asb` parser, and the generator of realistic backups
//! they run on ([`r#gen`]; `gen` is a keyword in edition 2024, so write
//! `benches::r#gen`).

pub mod r#gen;
