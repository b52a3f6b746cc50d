//! natsd-std: the same server on std threads. Not built yet (issue 5); this crate only
//! reserves its place in the workspace.
