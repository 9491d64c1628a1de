//! The restore engine: source -> decompress -> parse -> transform -> write -> report.
//!
//! The `restorer` binary (`src/main.rs`) only wires these modules together.

pub mod app;
pub mod budget;
pub mod checkpoint;
mod chunk_pool;
pub mod cli;
pub mod config_file;
pub mod decompress;
pub mod machine;
pub mod metadata;
pub mod pipeline;
pub mod report;
pub mod source;
pub mod stats;
pub mod status_report;
pub mod throttle;
pub mod transform;
pub mod wait;
pub mod writer;
