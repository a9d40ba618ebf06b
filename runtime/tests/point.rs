//! `deepiot-run point LINK TARGET`, the board's slot switch: one rename(2) of a fresh
//! symlink over the old one, so the link always names the old or the new target.
use std::os::unix::fs::symlink;
use std::process::Command;

fn point(dir: &std::path::Path, link: &str, target: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deepiot-run"))
        .current_dir(dir)
        .args(["point", link, target])
        .output()
        .expect("deepiot-run runs")
}

/// `point` succeeds and `link` then names `target`.
fn point_ok(dir: &std::path::Path, link: &str, target: &str) {
    let out = point(dir, link, target);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_link(dir.join(link)).unwrap().to_str(),
        Some(target)
    );
}

#[test]
fn point_replaces_the_link_in_one_rename_and_leaves_nothing_behind() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("slots/a")).unwrap();
    std::fs::create_dir_all(d.path().join("slots/b")).unwrap();
    // The first switch creates the link.
    point_ok(d.path(), "active", "slots/a");
    // A leftover `active.new` from a cut-short switch is replaced, not an error.
    symlink("slots/a", d.path().join("active.new")).unwrap();
    point_ok(d.path(), "active", "slots/b");
    assert!(
        !d.path().join("active.new").exists()
            && d.path().join("active.new").symlink_metadata().is_err()
    );
}

#[test]
fn point_over_a_directory_fails_and_keeps_it() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("active/inside")).unwrap();
    let out = point(d.path(), "active", "slots/a");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot point active to slots/a"), "{err}");
    assert!(d.path().join("active/inside").is_dir());
    assert!(
        d.path().join("active.new").symlink_metadata().is_err(),
        "no stray link"
    );
    // Usage errors.
    let out = Command::new(env!("CARGO_BIN_EXE_deepiot-run"))
        .args(["point", "only-one"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
