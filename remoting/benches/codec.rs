//! criterion benchmark: codec (filled in by the codec work)
fn main() {}
