//! CLI entry point (being written).
fn main() {}
