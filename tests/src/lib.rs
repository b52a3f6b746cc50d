//! natsd-tests: black-box tests over loopback (being built, issue 3).
