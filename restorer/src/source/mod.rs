//! TODO: sources (issue 4).
