//! TODO: Aerospike writer (issue 4).
