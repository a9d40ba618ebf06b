//! Firmware images and `deepiot flash` against a stand-in board: reproducible images,
//! every hash verified, install into the inactive slot, self-test on the board with the
//! real i686 runtime, atomic switch, previous version kept.
mod support;

use deepiot_board::board::image::parse_image;
use std::path::{Path, PathBuf};
use support::board::{deepiot_env, deepiot_owned, status, with_board, write, StandinBoard};
use support::{gru_model, i686_runtime, lenet5_random};

fn build(out: &Path, models: &[&Path], extra: &[&str], env: &[(&str, &str)]) -> PathBuf {
    let rt = i686_runtime().display().to_string();
    let mut args: Vec<&str> = vec!["image", "build"];
    args.extend(models.iter().map(|m| m.to_str().unwrap()));
    args.extend(["--runtime", &rt, "-o", out.to_str().unwrap(), "-q"]);
    args.extend_from_slice(extra);
    deepiot_env(&args, env).expect_code(0);
    out.to_path_buf()
}

#[test]
fn images_are_reproducible_documented_and_verified() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m1 = write(w, "har.safetensors", &gru_model(1));
    let m2 = write(w, "lenet.safetensors", &lenet5_random(1));
    let cfg = [
        "--config",
        "sample_hz=100",
        "--config",
        "window=20",
        "--image-version",
        "1.0",
    ];
    let a = build(&w.join("a.img"), &[&m1, &m2], &cfg, &[]);
    let b = build(&w.join("b.img"), &[&m1, &m2], &cfg, &[]);
    let a_bytes = std::fs::read(&a).unwrap();
    assert_eq!(
        a_bytes,
        std::fs::read(&b).unwrap(),
        "same inputs, same bytes"
    );
    // A build time only through SOURCE_DATE_EPOCH, and then reproducibly too.
    let c = build(
        &w.join("c.img"),
        &[&m1, &m2],
        &cfg,
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    let d = build(
        &w.join("d.img"),
        &[&m1, &m2],
        &cfg,
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    let c_bytes = std::fs::read(&c).unwrap();
    assert_eq!(c_bytes, std::fs::read(&d).unwrap());
    assert_ne!(a_bytes, c_bytes);

    let img = parse_image(&a_bytes).expect("a valid image");
    let m = &img.manifest;
    assert_eq!((m.format.as_str(), m.format_version), ("deepiot-image", 1));
    assert_eq!(m.version, "1.0");
    assert_eq!(m.target.triple, "i686-unknown-linux-musl");
    assert_eq!(m.config["sample_hz"], "100");
    assert_eq!(m.models.len(), 2);
    assert!(m
        .models
        .iter()
        .all(|x| x.golden.is_some() && x.examples == 2));
    assert_eq!(m.build.source_date_epoch, None);
    assert_eq!(
        parse_image(&c_bytes)
            .unwrap()
            .manifest
            .build
            .source_date_epoch,
        Some(1_700_000_000)
    );
    // A plain tar: the first member is the manifest.
    let listing = std::process::Command::new("tar")
        .arg("tf")
        .arg(&a)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(listing.lines().next(), Some("manifest.json"), "{listing}");

    // inspect verifies; one flipped byte anywhere in a member is caught (exit 3).
    let r = deepiot_owned(&["image".into(), "inspect".into(), a.display().to_string()]);
    r.expect_code(0);
    assert!(
        r.stdout.contains("all sizes and sha256 verified"),
        "{}",
        r.stdout
    );
    let mut bad = a_bytes.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x40;
    let bad_img = write(w, "bad.img", &bad);
    let r = deepiot_owned(&[
        "image".into(),
        "inspect".into(),
        bad_img.display().to_string(),
    ]);
    r.expect_code(3);
    assert!(r.stderr.contains("corrupt"), "{}", r.stderr);
    // A truncated image and a missing one too; flash refuses them before connecting.
    let cut = write(w, "cut.img", &a_bytes[..a_bytes.len() / 3]);
    for (img, what) in [(&cut, "corrupt"), (&w.join("missing.img"), "cannot read")] {
        let r = deepiot_owned(&[
            "flash".into(),
            img.display().to_string(),
            "--board".into(),
            "root@127.0.0.1:1".into(),
        ]);
        r.expect_code(3);
        assert!(r.stderr.contains(what), "{}", r.stderr);
    }
}

#[test]
fn flash_installs_self_tests_switches_and_keeps_the_previous_image() {
    let Some(board) = StandinBoard::start_or_skip(
        "flash_installs_self_tests_switches_and_keeps_the_previous_image",
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let m1 = write(w, "har.safetensors", &gru_model(1));
    let img1 = build(&w.join("v1.img"), &[&m1], &["--image-version", "v1"], &[]);
    let r = deepiot_owned(&with_board(
        &["flash", img1.to_str().unwrap(), "--json"],
        &board,
    ));
    r.expect_code(0);
    let j = r.json();
    assert_eq!(j["slot"], "a");
    assert_eq!(j["selftest"]["models"], 1);
    eprintln!("flash v1 (first install): {:.2} s", r.seconds);

    let d2 = w.join("v2");
    std::fs::create_dir_all(&d2).unwrap();
    let m2 = write(&d2, "har.safetensors", &gru_model(2));
    let m3 = write(&d2, "lenet.safetensors", &lenet5_random(3));
    let img2 = build(
        &w.join("v2.img"),
        &[&m2, &m3],
        &["--image-version", "v2", "--config", "k=v"],
        &[],
    );
    let r = deepiot_owned(&with_board(&["flash", img2.to_str().unwrap()], &board));
    r.expect_code(0);
    assert!(
        r.stdout
            .contains("self-test passed on the board: 2 model(s)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("previous version v1 kept in slot a"),
        "{}",
        r.stdout
    );
    eprintln!("flash v2 (runtime already there): {:.2} s", r.seconds);

    let s = status(&board);
    assert_eq!(s["active"], "b");
    assert_eq!(s["slots"]["b"]["info"]["version"], "v2");
    assert_eq!(s["slots"]["b"]["info"]["source"], "image");
    assert_eq!(s["slots"]["a"]["info"]["version"], "v1");
    assert_eq!(s["last"]["op"], "flash");
    assert_eq!(s["last"]["result"], "ok");
    let img2_sha = parse_image(&std::fs::read(&img2).unwrap()).unwrap().sha256;
    assert_eq!(s["slots"]["b"]["info"]["image_sha256"], img2_sha.as_str());
    // The slot holds the manifest and every member, all matching.
    let dir = board.install_dir.display();
    let (code, out) = board.sh(&format!(
        "cd {dir}/active && sha256sum -c SHA256SUMS && cat manifest.json"
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"version\": \"v2\""), "{out}");

    // Flashing v1 again goes to slot a; nothing needs sending but the small files.
    let r = deepiot_owned(&with_board(
        &["flash", img1.to_str().unwrap(), "--json", "-q"],
        &board,
    ));
    r.expect_code(0);
    let j = r.json();
    assert_eq!(j["slot"], "a");
    assert_eq!(j["bytes_sent"], 0, "{j}");
    assert_eq!(status(&board)["active"], "a");
}
