//! TODO: stats (issue 4).
