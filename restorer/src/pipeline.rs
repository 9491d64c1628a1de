//! TODO: pipeline (issue 4).
