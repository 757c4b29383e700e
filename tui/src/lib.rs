//! Dashboard (issue 3).
