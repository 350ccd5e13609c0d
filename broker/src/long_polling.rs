//! Held pull requests (owned by bsend; placeholder).
