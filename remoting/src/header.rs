//! Typed request and response headers <-> `extFields`.
