//! Generators of realistic backups for the criterion benchmarks.
