//! Tag filtering (owned by bsend; placeholder).
