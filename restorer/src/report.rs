//! TODO: report (issue 4).
