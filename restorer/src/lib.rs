//! The restore engine: source -> decompress -> parse -> transform -> write -> report.
//!
//! The `restorer` binary (`src/main.rs`) only wires these modules together.

pub mod app;
mod chunk_pool;
pub mod cli;
pub mod decompress;
pub mod metadata;
pub mod pipeline;
pub mod report;
pub mod source;
pub mod stats;
pub mod transform;
pub mod writer;
