//! placeholder
pub struct Change;
pub struct NotReloadable;
pub fn diff() {}
