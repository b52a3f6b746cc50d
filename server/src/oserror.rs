//! OS errors in the Go server's wording: the errno text, lower-cased (`no such file or
//! directory`, `address already in use`), as Go's `syscall.Errno.Error()` prints it.

use nix::errno::Errno;

/// The Go text of an errno.
pub fn errno_text(e: Errno) -> String {
    let desc = e.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => desc.to_string(),
    }
}

/// `op: <Go errno text>` for an OS error, or `op: <e>` for any other error.
pub fn go_error(op: &str, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{op}: {}", errno_text(Errno::from_raw(code))),
        None => format!("{op}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_are_lower_case() {
        let e = std::io::Error::from_raw_os_error(Errno::ENOENT as i32);
        assert_eq!(go_error("open x", &e), "open x: no such file or directory");
        assert_eq!(go_error("op", &std::io::Error::other("y")), "op: y");
    }
}
