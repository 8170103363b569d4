//! The systemd units in contrib/systemd are valid (systemd-analyze verify), sandboxed to an
//! exposure of 2.0 or lower (systemd-analyze security), and start commands the binary accepts.
mod common;

use std::path::Path;
use std::process::Command;

/// Every unit passes `systemd-analyze verify` without warnings and `systemd-analyze security
/// --offline=true --threshold=20` (an exposure level of 2.0 or lower), and its ExecStart names a
/// subcommand and options that `articles` accepts.
#[test]
fn units_verify_and_name_real_commands() {
    let units_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let scratch = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&units_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("service") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/articles", common::BIN);
        let copy = scratch.path().join(path.file_name().unwrap());
        std::fs::write(&copy, &text).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .expect("systemd-analyze is installed (scripts/install-test-deps.sh)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains(&*copy.to_string_lossy()),
            "{}: {stderr}",
            path.display()
        );
        let security = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
            .arg(&copy)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&security.stdout);
        assert!(
            security.status.success(),
            "{}: exposure over 2.0:\n{report}{}",
            path.display(),
            String::from_utf8_lossy(&security.stderr)
        );
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart");
        let mut words = exec.split_whitespace();
        let program = words.next().unwrap();
        let help = Command::new(program)
            .args(words)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            help.status.success(),
            "{exec} --help: {}",
            String::from_utf8_lossy(&help.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 1, "no units found in {}", units_dir.display());
}
