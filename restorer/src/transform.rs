//! TODO: transform (issue 4).
