//! TODO: cli (issue 4).
