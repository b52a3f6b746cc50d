//! Operator mode at load: the nats.rs fixtures (made by Go's tooling) load; Go's checks
//! and texts for what is wrong.

use super::tests::load_str;

const OPERATOR: &str = include_str!("../jwt/fixtures/operator.jwt");
const SYS: &str = include_str!("../jwt/fixtures/sys_account.jwt");
const ACC: &str = include_str!("../jwt/fixtures/test_account.jwt");
const SYS_KEY: &str = "ABREJNYASWGS2A5EVXPVXGGCOK2LJXT7KZNYBBZAXUTUBI2VSMAV7DHN";
const ACC_KEY: &str = "ADTQS7ZCFVJNW5726GOYXW5TSCZFNIQSHK2ZGYUBCD5D77OTNLOOKZOZ";

fn conf(extra: &str) -> String {
    format!(
        "operator: {}\nresolver: MEMORY\nresolver_preload: {{\n  {SYS_KEY}: {}\n  {ACC_KEY}: {}\n}}\n{extra}",
        OPERATOR.trim(),
        SYS.trim(),
        ACC.trim()
    )
}

#[test]
fn the_nats_rs_operator_loads() {
    let o = load_str(&conf("")).unwrap().config.options;
    let op = o.auth.operator.as_ref().expect("operator mode");
    assert_eq!(op.operators.len(), 1);
    assert_eq!(op.accounts.len(), 2);
    assert_eq!(
        o.system_account.as_deref(),
        Some(SYS_KEY),
        "from the operator"
    );
    assert!(o.auth.required());
    assert!(o.auth.nonce_required());
    assert!(o.accounts.iter().any(|a| a.name == ACC_KEY));
}

#[test]
fn operator_errors_are_gos() {
    // Go's startup errors, which `-t` does not report: the config loads.
    for (c, msg) in [
        (
            conf("authorization { users: [{user: a, password: b}] }\n"),
            "operators do not allow users to be configured directly",
        ),
        (
            format!("operator: {}\nresolver: MEMORY\n", OPERATOR.trim()),
            "error resolving system account: account missing",
        ),
    ] {
        let o = load_str(&c).unwrap().config.options;
        assert_eq!(crate::operator::startup_check(&o).unwrap_err(), msg, "{c}");
    }
    for (c, msg) in [
        (
            "operator: eyJhbGciOiJub25lIn0.e30.AAAA\n".to_string(),
            "error parsing operator JWT: ",
        ),
        (
            format!("operator: {}\nresolver: URL(http://x)\n", OPERATOR.trim()),
            "resolver: only MEMORY is supported",
        ),
        (
            format!(
                "operator: {}\nresolver: MEMORY\nresolver_preload: {{ {ACC_KEY}: {} }}\n",
                OPERATOR.trim(),
                SYS.trim()
            ),
            "resolver_preload: the JWT filed under",
        ),
    ] {
        let d = load_str(&c).unwrap_err();
        assert!(
            d.errors.iter().any(|e| e.msg.starts_with(msg)),
            "{msg}: {:?}",
            d.errors
        );
    }
}
