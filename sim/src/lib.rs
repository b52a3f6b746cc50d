//! natsd-sim: the deterministic simulator (being built).
