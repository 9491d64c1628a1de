//! TODO: metadata (issue 4).
