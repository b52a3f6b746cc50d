use super::*;

fn ok(args: &[&str]) -> Flags {
    parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn defaults() {
    let f = ok(&[]);
    assert_eq!(f, Flags::default());
    assert!(f.logtime);
    assert_eq!(f.port, None);
}

#[test]
fn single_and_double_dash_long_flags() {
    for args in [
        &["-user", "u", "-addr", "127.0.0.1"][..],
        &["--user", "u", "--addr", "127.0.0.1"][..],
        &["-user=u", "--addr=127.0.0.1"][..],
        &["--user=u", "-a", "127.0.0.1"][..],
        &["-user", "u", "-net", "127.0.0.1"][..],
    ] {
        let f = ok(args);
        assert_eq!(f.user.as_deref(), Some("u"), "{args:?}");
        assert_eq!(f.host.as_deref(), Some("127.0.0.1"), "{args:?}");
    }
}

#[test]
fn value_may_start_with_a_dash() {
    assert_eq!(ok(&["-p", "-1"]).port, Some(-1));
    assert_eq!(ok(&["--port=-1"]).port, Some(-1));
    assert_eq!(ok(&["-pass", "-secret"]).pass.as_deref(), Some("-secret"));
}

#[test]
fn ints_parse_like_go() {
    assert_eq!(ok(&["-p", "4223"]).port, Some(4223));
    assert_eq!(ok(&["-p", "0x10"]).port, Some(16));
    assert_eq!(ok(&["-p", "010"]).port, Some(8));
    assert_eq!(ok(&["-p", "+5"]).port, Some(5));
    assert_eq!(
        parse(&["-p", "abc"]),
        Err(FlagError::Usage(
            "invalid value \"abc\" for flag -p: parse error".into()
        ))
    );
    assert_eq!(
        parse(&["-m", "99999999999999999999"]),
        Err(FlagError::Usage(
            "invalid value \"99999999999999999999\" for flag -m: value out of range".into()
        ))
    );
}

#[test]
fn bool_flags_and_combined_levels() {
    let f = ok(&["-D"]);
    assert!(f.debug && !f.trace);
    let f = ok(&["-V"]);
    assert!(!f.debug && f.trace);
    let f = ok(&["-DV"]);
    assert!(f.debug && f.trace && !f.trace_verbose);
    let f = ok(&["-VV"]);
    assert!(!f.debug && f.trace && f.trace_verbose);
    let f = ok(&["-DVV"]);
    assert!(f.debug && f.trace && f.trace_verbose);
    // -DV is applied after -D, whatever the order (Go visits flags sorted by name).
    let f = ok(&["-DV", "-D=false"]);
    assert!(f.debug && f.trace);
    let f = ok(&["-DV=false", "-D"]);
    assert!(!f.debug && !f.trace);
    let f = ok(&["--debug", "--trace"]);
    assert!(f.debug && f.trace);
}

#[test]
fn logtime_defaults_true_and_takes_inline_false() {
    assert!(ok(&[]).logtime);
    assert!(!ok(&["-T=false"]).logtime);
    assert!(!ok(&["--logtime=0"]).logtime);
    assert!(ok(&["-T"]).logtime);
    assert_eq!(
        parse(&["-T=maybe"]),
        Err(FlagError::Usage(
            "invalid boolean value \"maybe\" for -T: parse error".into()
        ))
    );
}

#[test]
fn bool_flag_does_not_consume_next_arg() {
    // "false" is a stray argument, not -T's value: Go refuses it as a command.
    assert_eq!(
        parse(&["-T", "false"]),
        Err(FlagError::Command("unrecognized command: \"false\"".into()))
    );
}

#[test]
fn unknown_flag_is_an_error() {
    assert_eq!(
        parse(&["--bogus"]),
        Err(FlagError::Usage(
            "flag provided but not defined: -bogus".into()
        ))
    );
    assert_eq!(
        parse(&["-x=1"]),
        Err(FlagError::Usage("flag provided but not defined: -x".into()))
    );
}

#[test]
fn syntax_errors() {
    assert_eq!(
        parse(&["---p"]),
        Err(FlagError::Usage("bad flag syntax: ---p".into()))
    );
    assert_eq!(
        parse(&["-=1"]),
        Err(FlagError::Usage("bad flag syntax: -=1".into()))
    );
    assert_eq!(
        parse(&["-p"]),
        Err(FlagError::Usage("flag needs an argument: -p".into()))
    );
}

#[test]
fn commands_and_terminator() {
    assert!(ok(&["version"]).show_version);
    assert!(ok(&["-p", "1", "HELP"]).show_help);
    assert!(ok(&["-v"]).show_version);
    assert!(ok(&["--help"]).show_help);
    assert!(ok(&["-h"]).show_help);
    // After "--" nothing is a flag; the first argument is the command.
    assert!(ok(&["--", "version"]).show_version);
    assert_eq!(
        parse(&["--", "-D"]),
        Err(FlagError::Command("unrecognized command: \"-D\"".into()))
    );
}

#[test]
fn every_supported_flag_lands_in_its_field() {
    let f = ok(&[
        "-n",
        "srv",
        "--client_advertise",
        "h:1",
        "-P",
        "/tmp/p",
        "--ports_file_dir",
        "/tmp",
        "-l",
        "/tmp/l",
        "--auth",
        "tok",
        "-sl",
        "quit=1",
        "-m",
        "8222",
        "-js",
        "-sd",
        "/d",
        "-c",
        "x.conf",
        "-t",
        "--routes",
        "nats://a:1",
        "--cluster",
        "nats://b:2",
        "--tls",
        "--tlscert",
        "c",
        "--tlskey",
        "k",
    ]);
    assert_eq!(f.server_name.as_deref(), Some("srv"));
    assert_eq!(f.client_advertise.as_deref(), Some("h:1"));
    assert_eq!(f.pid_file.as_deref(), Some("/tmp/p"));
    assert_eq!(f.ports_file_dir.as_deref(), Some("/tmp"));
    assert_eq!(f.log_file.as_deref(), Some("/tmp/l"));
    assert_eq!(f.auth.as_deref(), Some("tok"));
    assert_eq!(f.signal.as_deref(), Some("quit=1"));
    assert_eq!(f.http_port, Some(8222));
    assert!(f.jetstream && f.check_config);
    assert_eq!(f.store_dir.as_deref(), Some("/d"));
    assert_eq!(f.config.as_deref(), Some("x.conf"));
    assert_eq!(f.routes.as_deref(), Some("nats://a:1"));
    assert_eq!(f.cluster.as_deref(), Some("nats://b:2"));
    assert_eq!(f.tls, Some(true));
    assert_eq!(
        (f.tls_cert.as_deref(), f.tls_key.as_deref()),
        (Some("c"), Some("k"))
    );
}

#[test]
fn last_occurrence_wins() {
    assert_eq!(ok(&["-p", "1", "--port", "2"]).port, Some(2));
    assert_eq!(
        ok(&["-n", "a", "--server_name", "b"])
            .server_name
            .as_deref(),
        Some("b")
    );
}

#[test]
fn runtime_flag_in_every_syntax() {
    assert_eq!(ok(&[]).runtime, None);
    for args in [
        &["--runtime", "std"][..],
        &["-runtime", "std"][..],
        &["--runtime=std"][..],
        &["-runtime=std"][..],
    ] {
        assert_eq!(ok(args).runtime.as_deref(), Some("std"), "{args:?}");
    }
    assert_eq!(
        parse(&["--runtime"]),
        Err(FlagError::Usage("flag needs an argument: -runtime".into()))
    );
}
