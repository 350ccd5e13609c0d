//! mqbench
