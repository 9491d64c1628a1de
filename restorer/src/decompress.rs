//! TODO: decompress (issue 4).
