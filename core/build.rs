//! Records the git commit the server is built from (`NATSD_GIT_COMMIT`), so `-v`, the
//! startup banner and `/varz` say exactly which natsd runs. Outside a git checkout (a
//! source tarball) it is left unset.

use std::process::Command;

fn main() {
    // Rebuild when the checked-out commit moves. Only files that exist: cargo counts a
    // missing one (no `packed-refs` in a fresh clone) as changed, and rebuilt the core and
    // everything above it on every run.
    for f in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        if std::path::Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(c) = commit {
        println!("cargo:rustc-env=NATSD_GIT_COMMIT={c}");
    }
}
