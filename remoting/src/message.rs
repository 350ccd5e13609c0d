//! The stored-message record codec (on-disk format and pull wire format), properties, message ids.
