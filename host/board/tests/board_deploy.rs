//! `deepiot deploy` against a stand-in board (a real sshd on loopback, see
//! `deepiot_board::testing::standin`), with the real i686 runtime executing "on the board".
mod support;

use std::path::Path;
use support::board::{
    deepiot, deepiot_owned, free_port, run_on_board, status, with_board, write, BoardOptions,
    StandinBoard,
};
use support::{gru_model, host_scores, i686_runtime, random_input, raw_f32_bytes};

#[test]
fn deploy_installs_verifies_runs_and_keeps_the_previous_version() {
    let Some(board) =
        StandinBoard::start_or_skip("deploy_installs_verifies_runs_and_keeps_the_previous_version")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rt = i686_runtime().display().to_string();
    let m1 = write(work.path(), "har.safetensors", &gru_model(1));
    let m2 = write(work.path(), "har.small.safetensors", &gru_model(2));

    // First install: both files travel, slot a becomes active.
    let r = deepiot_owned(&with_board(
        &["deploy", m1.to_str().unwrap(), "--runtime", &rt, "--json"],
        &board,
    ));
    r.expect_code(0);
    let j = r.json();
    assert_eq!(j["slot"], "a");
    assert!(j["previous"].is_null());
    assert_eq!(j["files_sent"], 2);
    eprintln!("first deploy (runtime + model): {:.2} s", r.seconds);

    // The real i686 runtime runs the model on the board and agrees with the host.
    let x = random_input(11, 20 * 60 * 3);
    let input = write(work.path(), "x.f32", &raw_f32_bytes(&x));
    let on_board = run_on_board(&board, "har", &input);
    let on_host = host_scores(&gru_model(1), &x);
    assert_eq!(on_board.len(), 3);
    for (a, b) in on_board.iter().flatten().zip(on_host.iter().flatten()) {
        assert!((a - b).abs() <= 1e-5, "board {a} vs host {b}");
    }

    // Second install: the runtime is already there (not sent again), slot b becomes
    // active, slot a is kept as the previous version.
    let r = deepiot_owned(&with_board(
        &[
            "deploy",
            m1.to_str().unwrap(),
            m2.to_str().unwrap(),
            "--runtime",
            &rt,
            "--label",
            "v2",
        ],
        &board,
    ));
    r.expect_code(0)
        .expect_stdout("deployed v2")
        .expect_stdout("previous version deploy-");
    eprintln!("second deploy (one new model): {:.2} s", r.seconds);
    let s = status(&board);
    assert_eq!(s["active"], "b");
    assert_eq!(s["slots"]["b"]["info"]["version"], "v2");
    assert!(s["slots"]["a"]["info"]["version"]
        .as_str()
        .unwrap()
        .starts_with("deploy-"));
    assert_eq!(s["last"]["result"], "ok");
    assert_eq!(s["last"]["op"], "deploy");
    // Every file of both slots matches its recorded sha256, and nothing is left over.
    let d = board.install_dir.display();
    let (code, out) = board.sh(&format!(
        "cd {d}/slots/a && sha256sum -c SHA256SUMS && cd ../b && sha256sum -c SHA256SUMS && readlink {d}/active && ls {d}"
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("slots/b"), "{out}");
    assert!(!out.contains("staging"), "staging left behind: {out}");
    let on_board = run_on_board(&board, "har.small", &input);
    let on_host = host_scores(&gru_model(2), &x);
    assert!((on_board[0][0] - on_host[0][0]).abs() <= 1e-5);

    // A pointer switch cut between its two renames (possible on a board whose `mv` has
    // no -T) is finished by the next command that looks at the board.
    let (code, out) = board.sh(&format!("cd {d} && mv active active.new && ls"));
    assert_eq!(code, 0, "{out}");
    assert_eq!(status(&board)["active"], "b");

    // The human status names both slots and the last result.
    deepiot_owned(&with_board(&["board", "status"], &board))
        .expect_code(0)
        .expect_stdout("slot b (active): version v2")
        .expect_stdout("slot a (previous)");
}

#[test]
fn unreachable_refused_key_and_unknown_host_key_have_their_own_exit_codes() {
    let work = tempfile::tempdir().unwrap();
    let m = write(work.path(), "m.safetensors", &gru_model(1));
    let rt = i686_runtime().display().to_string();
    let m = m.to_str().unwrap();

    // Nothing listens on the port: unreachable (10).
    let port = free_port();
    let addr = format!("root@127.0.0.1:{port}");
    let r = deepiot(&[
        "deploy",
        m,
        "--runtime",
        &rt,
        "--board",
        &addr,
        "--dir",
        "/tmp/x",
        "-F",
        "/dev/null",
    ]);
    r.expect_code(10).expect_stderr("cannot reach the board");

    let Some(board) = StandinBoard::start_or_skip(
        "unreachable_refused_key_and_unknown_host_key_have_their_own_exit_codes",
    ) else {
        return;
    };
    let dir = board.install_dir.display().to_string();
    // A deploy with this client key and known_hosts file, host keys checked strictly.
    let deploy_with = |key: &Path, known_hosts: &Path| {
        deepiot(&[
            "deploy",
            m,
            "--runtime",
            &rt,
            "--board",
            &board.address(),
            "--dir",
            &dir,
            "-F",
            "/dev/null",
            "-i",
            key.to_str().unwrap(),
            "-o",
            &format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o",
            "StrictHostKeyChecking=yes",
        ])
    };
    // A key the board does not know: login refused (11).
    let other = work.path().join("other_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    deploy_with(&other, &board.known_hosts)
        .expect_code(11)
        .expect_stderr("refused the login");

    // A known_hosts entry with another key for this address: ssh refuses (12); host-key
    // checking is never turned off.
    let fake = std::fs::read_to_string(format!("{}.pub", other.display())).unwrap();
    let key = fake
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let bad_kh = write(
        work.path(),
        "bad_known_hosts",
        format!("[127.0.0.1]:{} {key}\n", board.port).as_bytes(),
    );
    deploy_with(&board.key, &bad_kh)
        .expect_code(12)
        .expect_stderr("host key");
    assert!(!board.install_dir.exists(), "nothing may be created");
}

#[test]
fn wrong_architecture_is_refused_before_anything_changes() {
    let Some(board) = StandinBoard::start_with_or_skip(
        "wrong_architecture_is_refused_before_anything_changes",
        BoardOptions {
            arch: Some("armv7l".into()),
            ..Default::default()
        },
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let m = write(work.path(), "m.safetensors", &gru_model(1));
    let rt = i686_runtime().display().to_string();
    let r = deepiot_owned(&with_board(
        &["deploy", m.to_str().unwrap(), "--runtime", &rt],
        &board,
    ));
    r.expect_code(13)
        .expect_stderr("armv7l")
        .expect_stderr("i686");
    assert!(
        !board.install_dir.exists(),
        "nothing may be created on the board"
    );
    // bench refuses the same way; status still shows what is there.
    let r = deepiot_owned(&with_board(
        &["bench", m.to_str().unwrap(), "--runtime", &rt],
        &board,
    ));
    r.expect_code(13);
    deepiot_owned(&with_board(&["board", "status"], &board))
        .expect_code(0)
        .expect_stdout("warning: `uname -m` = armv7l");
}

#[test]
fn local_problems_are_reported_before_connecting() {
    let work = tempfile::tempdir().unwrap();
    let bad = write(work.path(), "bad.safetensors", b"this is not a model");
    let good = write(work.path(), "m.safetensors", &gru_model(1));
    let not_elf = write(work.path(), "runtime", b"#!/bin/sh\n");
    let rt = i686_runtime().display().to_string();
    // Port 1 on loopback: nothing there; a connection attempt would give exit 10.
    let board = ["--board", "root@127.0.0.1:1", "--dir", "/tmp/nowhere"];
    let run = |args: &[&str]| {
        let mut v: Vec<&str> = args.to_vec();
        v.extend_from_slice(&board);
        deepiot(&v)
    };
    let r = run(&["deploy", bad.to_str().unwrap(), "--runtime", &rt]);
    r.expect_code(3).expect_stderr("not a usable deepiot model");
    let r = run(&["deploy", "/nonexistent.safetensors", "--runtime", &rt]);
    r.expect_code(3);
    let r = run(&[
        "deploy",
        good.to_str().unwrap(),
        "--runtime",
        not_elf.to_str().unwrap(),
    ]);
    r.expect_code(3).expect_stderr("not an ELF");
    let r = deepiot(&[
        "deploy",
        good.to_str().unwrap(),
        "--runtime",
        &rt,
        "--board",
        "root@",
    ]);
    r.expect_code(2);
    let r = deepiot(&["deploy"]);
    r.expect_code(2);
}
