//! Message queue locks for orderly consumers (owned by badmin; placeholder).
