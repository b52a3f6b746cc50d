//! natsd-benches: not built yet (issue 4); this crate only reserves its place.
