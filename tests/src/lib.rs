//! Helpers for black-box tests that start real `mqnamesrv` / `mqbroker` processes.
