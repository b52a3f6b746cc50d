//! Stamps the simulator with the git commit it was built from (`SIM_GIT_COMMIT`), so a
//! failure report names the exact code to replay it on.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Tracked files changed since that commit: the report says so (`-dirty`).
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let suffix = if dirty { "-dirty" } else { "" };
    println!("cargo:rustc-env=SIM_GIT_COMMIT={commit}{suffix}");
    // Run again when HEAD moves (a commit, a checkout, a rebase) or the index changes; and
    // when the crate's own files change (the default that `rerun-if-changed` replaces).
    let mut watch = vec!["HEAD".to_string(), "index".to_string()];
    watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for p in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &p]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    for p in ["src", "tests", "build.rs", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={p}");
    }
}
