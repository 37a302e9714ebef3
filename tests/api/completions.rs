//! `hookline completions SHELL` prints a completion script that knows the subcommands.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hookline");

#[test]
fn completions_print_a_script_naming_the_subcommands_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(BIN).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(
            script.contains("serve") && script.contains("completions"),
            "{shell} script names the subcommands"
        );
    }
    let out = Command::new(BIN).args(["completions", "tcsh"]).output().unwrap();
    assert!(!out.status.success(), "an unknown shell is refused");
}
