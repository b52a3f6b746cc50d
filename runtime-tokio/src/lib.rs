//! natsd-tokio: drives the natsd core with tokio (being built; see issue 3).
