//! A lenient JSON reader that accepts fastjson output (unquoted integer keys, object keys).
