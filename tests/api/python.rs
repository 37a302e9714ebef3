//! Running the providers' reference libraries (Python, from `.ci/requirements.txt`) from a
//! test: skipped with a note without `HOOKLINE_TEST_PYTHON`, a failure under `CI=true`.

use std::io::Write;

/// The python to run, or `None` (after printing why the test is skipped).
pub fn python(test: &str) -> Option<String> {
    match std::env::var("HOOKLINE_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but HOOKLINE_TEST_PYTHON is not set");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (python): {test} — set HOOKLINE_TEST_PYTHON to a python with .ci/requirements.txt"
            );
            None
        }
    }
}

/// Run `script` with `args`, `stdin` on its standard input; its standard output as JSON.
pub fn run(python: &str, script: &str, args: &[&str], stdin: &serde_json::Value) -> serde_json::Value {
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the python script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}
