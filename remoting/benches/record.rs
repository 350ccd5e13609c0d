//! criterion benchmark: record (filled in by the record work)
fn main() {}
