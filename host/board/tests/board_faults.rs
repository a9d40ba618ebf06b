//! Fault injection against a stand-in board: a connection cut in the middle of a
//! transfer, data corrupted in transit, a full disk, a self-test that fails. Each must
//! leave the board on its previous working version, say what happened, and exit with
//! its own code.
mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::board::{
    corrupting_ssh, cutting_ssh, deepiot_owned, deepiot_spawn, finish, run_on_board, script,
    slow_ssh, status, with_board, write, BoardOptions, StandinBoard,
};
use support::{gru_model, host_scores, i686_runtime, lenet5_random, random_input, raw_f32_bytes};
use tempfile::TempDir;

/// `deploy MODEL --runtime R --label LABEL EXTRA...` against `board`.
fn deploy_args(board: &StandinBoard, model: &Path, label: &str, extra: &[&str]) -> Vec<String> {
    let rt = i686_runtime().display().to_string();
    let mut args = vec![
        "deploy",
        model.to_str().unwrap(),
        "--runtime",
        &rt,
        "--label",
        label,
    ];
    args.extend_from_slice(extra);
    with_board(&args, board)
}

/// `args` with the ssh command replaced by the wrapper `ssh` (a faulty link).
fn through(mut args: Vec<String>, ssh: &Path) -> Vec<String> {
    args.extend(["--ssh-command".into(), ssh.display().to_string()]);
    args
}

/// Builds `work/VERSION.img` from `model` (plus `extra` flags) and returns its path.
fn build_image(work: &Path, model: &Path, version: &str, extra: &[String]) -> std::path::PathBuf {
    let img = work.join(format!("{version}.img"));
    let mut args: Vec<String> = [
        "image",
        "build",
        model.to_str().unwrap(),
        "--runtime",
        &i686_runtime().display().to_string(),
        "--image-version",
        version,
        "-o",
        img.to_str().unwrap(),
        "-q",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().cloned());
    deepiot_owned(&args).expect_code(0);
    img
}

/// The version of the active slot in a `board status --json`.
fn active_version(s: &serde_json::Value) -> &serde_json::Value {
    &s["slots"][s["active"].as_str().expect("an active slot")]["info"]["version"]
}

/// Deploys `gru_model(1)` as "har" (label v1) and returns the board's status.
fn install_v1(board: &StandinBoard, work: &Path) -> serde_json::Value {
    let m = write(work, "har.safetensors", &gru_model(1));
    deepiot_owned(&deploy_args(board, &m, "v1", &["-q"])).expect_code(0);
    let s = status(board);
    assert_eq!(active_version(&s), "v1");
    s
}

/// A stand-in board for `test` (with `opts`) with v1 installed, and a work folder; `None`
/// when the test skips.
#[track_caller]
fn board_on_v1(test: &str, opts: BoardOptions) -> Option<(StandinBoard, TempDir)> {
    let board = StandinBoard::start_with_or_skip(test, opts)?;
    let work = tempfile::tempdir().unwrap();
    install_v1(&board, work.path());
    Some((board, work))
}

/// The board's active slot is `version` and runs it: v1 is `gru_model(1)`, v2
/// `gru_model(2)`. `what` names the case in the messages.
fn assert_runs(board: &StandinBoard, work: &Path, version: &str, what: &str) {
    let s = status(board);
    assert_eq!(active_version(&s), version, "{what}: {s}");
    let model = match version {
        "v1" => gru_model(1),
        "v2" => gru_model(2),
        other => panic!("no model for version {other}"),
    };
    let x = random_input(3, 20 * 60);
    let input = write(work, "x.f32", &raw_f32_bytes(&x));
    let got = run_on_board(board, "har", &input);
    let want = host_scores(&model, &x);
    assert!(
        (got[0][0] - want[0][0]).abs() <= 1e-5,
        "{what}: the active slot does not compute {version}"
    );
}

/// The board is on v1 and v1 still runs.
fn assert_on_v1(board: &StandinBoard, work: &Path) {
    assert_runs(board, work, "v1", "v1 no longer runs right");
}

/// No partial upload is left in the board's staging folder.
fn assert_no_part_left(board: &StandinBoard) {
    let (_, out) = board.sh(&format!(
        "ls -R {}/staging 2>/dev/null",
        board.install_dir.display()
    ));
    assert!(!out.contains(".part"), "{out}");
}

#[test]
fn a_transfer_cut_in_the_middle_leaves_v1_and_resumes_later() {
    let Some((board, work)) = board_on_v1(
        "a_transfer_cut_in_the_middle_leaves_v1_and_resumes_later",
        BoardOptions::default(),
    ) else {
        return;
    };
    // v2 carries a 1.7 MB model: 7 pieces of 256 KiB. The wrapper lets 3 uploads through
    // and cuts every later one after 100 000 bytes, as a dropped link would.
    let big = write(work.path(), "lenet.safetensors", &lenet5_random(1));
    let cut = cutting_ssh(work.path(), 3, 100_000);
    let chunked = |extra: &[&str]| {
        let mut args = vec!["--chunk-size", "262144"];
        args.extend_from_slice(extra);
        deploy_args(&board, &big, "v2", &args)
    };
    let r = deepiot_owned(&through(chunked(&["--retries", "1"]), &cut));
    r.expect_code(15)
        .expect_stderr("connection to")
        .expect_stderr("lost")
        .expect_stderr("run the same command again to resume");
    assert_on_v1(&board, work.path());
    let s = status(&board);
    assert_eq!(s["last"]["result"], "failed", "{s}");
    assert_eq!(s["last"]["error"], "connection-lost", "{s}");

    // The same command over a good link resumes: the 3 pieces that arrived are not sent again.
    let r = deepiot_owned(&chunked(&["--json", "-q"]));
    r.expect_code(0);
    let j = r.json();
    assert_eq!(j["pieces_resumed"], 3, "{j}");
    let size = std::fs::metadata(&big).unwrap().len();
    assert_eq!(j["bytes_sent"], size - 3 * 262_144, "{j}");
    assert_eq!(active_version(&status(&board)), "v2");
}

#[test]
fn a_connection_dropped_by_the_board_mid_transfer_leaves_v1() {
    let Some((board, work)) = board_on_v1(
        "a_connection_dropped_by_the_board_mid_transfer_leaves_v1",
        BoardOptions::default(),
    ) else {
        return;
    };
    let m2 = write(work.path(), "har2.safetensors", &gru_model(2));
    // A slow link: every upload stalls for 2 s after 100 000 bytes. While it stalls, the
    // board's side of the connection is killed (its sshd session processes, by PID).
    let slow = slow_ssh(work.path(), 100_000, 2);
    let child = deepiot_spawn(&through(
        deploy_args(&board, &m2, "v2", &["--retries", "0"]),
        &slow,
    ));
    let staging = board.install_dir.join("staging");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut killed = 0;
    while Instant::now() < deadline {
        let part = std::fs::read_dir(&staging)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name().to_string_lossy().ends_with(".part")
                    && e.metadata().map(|m| m.len() >= 100_000).unwrap_or(false)
            });
        if part {
            killed = board.kill_sessions();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = finish(child);
    assert!(killed > 0, "the upload never started: {r:?}");
    r.expect_code(15).expect_stderr("was lost");
    assert_on_v1(&board, work.path());
}

#[test]
fn data_corrupted_in_transit_is_caught_and_v1_stays() {
    let Some((board, work)) = board_on_v1(
        "data_corrupted_in_transit_is_caught_and_v1_stays",
        BoardOptions::default(),
    ) else {
        return;
    };
    let m2 = write(work.path(), "har2.safetensors", &gru_model(2));
    let bad = corrupting_ssh(work.path(), 5000);
    let r = deepiot_owned(&through(deploy_args(&board, &m2, "v2", &[]), &bad));
    r.expect_code(16)
        .expect_stderr("arrived corrupted")
        .expect_stderr("sent 3 time(s)");
    assert_on_v1(&board, work.path());
    let s = status(&board);
    assert_eq!(s["last"]["error"], "corrupt-transfer", "{s}");
    // Nothing damaged was kept.
    assert_no_part_left(&board);
}

#[test]
fn a_full_disk_is_reported_and_v1_stays() {
    // 1.5 MiB of storage: v1 (runtime 0.4 MiB + model 0.2 MiB) fits, v2 (+1.7 MiB) does not.
    let Some((board, work)) = board_on_v1(
        "a_full_disk_is_reported_and_v1_stays",
        BoardOptions {
            tmpfs_kib: Some(1536),
            ..Default::default()
        },
    ) else {
        return;
    };
    let big = write(work.path(), "lenet.safetensors", &lenet5_random(2));
    let r = deepiot_owned(&deploy_args(&board, &big, "v2", &[]));
    r.expect_code(14)
        .expect_stderr("disk full")
        .expect_stderr("KiB free");
    assert_on_v1(&board, work.path());
    let s = status(&board);
    assert_eq!(s["last"]["error"], "disk-full", "{s}");

    // The space goes while the transfer runs (the early check passed): the write fails
    // on the board, the partial file is removed, still disk full, still v1.
    let filler = board.install_dir.join("filler");
    let fill = script(
        &work.path().join("ssh-fill"),
        &format!(
            "#!/bin/sh\ncase \"$*\" in *deepiot-upload*) [ -f '{f}' ] || cat /dev/zero > '{f}' 2>/dev/null ;; esac\nexec ssh \"$@\"\n",
            f = filler.display()
        ),
    );
    let m2 = write(work.path(), "har2.safetensors", &gru_model(2));
    let r = deepiot_owned(&through(deploy_args(&board, &m2, "v2", &[]), &fill));
    let _ = std::fs::remove_file(&filler);
    r.expect_code(14).expect_stderr("No space left on device");
    assert_on_v1(&board, work.path());
    assert_no_part_left(&board);
}

#[test]
fn a_failing_self_test_leaves_the_previous_image_active() {
    let Some(board) =
        StandinBoard::start_or_skip("a_failing_self_test_leaves_the_previous_image_active")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let m1 = write(work.path(), "har.safetensors", &gru_model(1));
    let img1 = build_image(work.path(), &m1, "v1", &[]);
    deepiot_owned(&with_board(
        &["flash", img1.to_str().unwrap(), "-q"],
        &board,
    ))
    .expect_code(0);

    // v2's expected outputs are not what its model computes (as when the golden file
    // came from another model): the self-test on the board must catch it.
    let m2dir = work.path().join("v2");
    std::fs::create_dir_all(&m2dir).unwrap();
    let m2 = write(&m2dir, "har.safetensors", &gru_model(2));
    let wrong: Vec<String> = (0..2)
        .map(|_| "{\"scores\":[0.5,0.1,0.1,0.1,0.1,0.1]}".to_string())
        .collect();
    let golden = write(
        work.path(),
        "wrong.json",
        format!("{{\"examples\":[{}]}}", wrong.join(",")).as_bytes(),
    );
    let img2 = build_image(
        work.path(),
        &m2,
        "v2",
        &["--golden".into(), format!("har={}", golden.display())],
    );
    let r = deepiot_owned(&with_board(&["flash", img2.to_str().unwrap()], &board));
    r.expect_code(17)
        .expect_stderr("self-test failed")
        .expect_stderr("does not reproduce its expected output")
        .expect_stderr("stays on slot a (version v1)");
    assert_on_v1(&board, work.path());
    let s = status(&board);
    assert_eq!(s["active"], "a");
    assert_eq!(s["last"]["op"], "flash");
    assert_eq!(s["last"]["error"], "self-test");
    assert!(s["slots"]["b"].is_null(), "the failed slot is removed: {s}");
}

/// The new slot passes its checks before the switch and fails the one after it (its
/// `SLOT` file is damaged between the install and the switch, by an ssh wrapper that acts
/// when the switch script goes out): the board switches back to the previous slot in one
/// rename, the previous version still runs, and the host says so with exit 17.
#[test]
fn a_slot_that_fails_after_the_switch_is_rolled_back() {
    let Some((board, work)) = board_on_v1(
        "a_slot_that_fails_after_the_switch_is_rolled_back",
        BoardOptions::default(),
    ) else {
        return;
    };
    let v1_slot = status(&board)["active"].as_str().unwrap().to_string();
    let m2 = write(work.path(), "har.safetensors", &gru_model(2));
    let img2 = build_image(work.path(), &m2, "v2", &[]);
    let d = board.install_dir.display().to_string();
    let breaker = script(
        &work.path().join("ssh-break-after-switch"),
        &format!(
            "#!/bin/sh\n\
             case \"$*\" in\n\
             *'does not run through the new pointer'*)\n\
               act=$(cat '{d}/active/SLOT')\n\
               for s in '{d}'/slots/*/; do\n\
                 n=$(basename \"$s\"); [ \"$n\" = \"$act\" ] || echo broken > \"$s/SLOT\"\n\
               done ;;\n\
             esac\n\
             exec ssh \"$@\"\n"
        ),
    );
    let flash = with_board(&["flash", img2.to_str().unwrap()], &board);
    deepiot_owned(&through(flash, &breaker))
        .expect_code(17)
        .expect_stderr("does not run through the new pointer");
    assert_on_v1(&board, work.path());
    let s = status(&board);
    assert_eq!(s["active"], v1_slot.as_str(), "{s}");
    assert_eq!(s["last"]["op"], "flash", "{s}");
    // `active` is a symlink to the v1 slot, and no half-made pointer is left.
    let (_, out) = board.sh(&format!("readlink {d}/active; ls -a {d}"));
    assert!(out.starts_with(&format!("slots/{v1_slot}")), "{out}");
    assert!(!out.contains("active.new"), "{out}");
}

/// Where a board-side session dies during `deploy` or `flash`, and what the board must
/// look like afterwards.
#[derive(Clone, Copy)]
struct Boundary {
    name: &'static str,
    /// A line of the install/switch script the kill goes next to.
    mark: &'static str,
    /// Kill before `mark` (else right after it).
    before: bool,
    /// Extra damage done just before the kill (a new slot that will not run).
    damage: &'static str,
    /// The version the board must run afterwards.
    runs: &'static str,
    /// The last operation's result the board records.
    result: &'static str,
}

/// The board-side shell of a deploy, and of a flash, is killed (SIGKILL) at each step
/// boundary: after the upload, after the install, after the switch but before its check
/// (with a new slot that runs, and with one that does not), and after the check. Every
/// time the board is left on a verified version, the old one or the new one once fully
/// checked, and `board status` says which and why; no `switching` note is left behind.
#[test]
fn a_session_killed_at_each_step_boundary_leaves_a_verified_version() {
    let Some(board) = StandinBoard::start_or_skip(
        "a_session_killed_at_each_step_boundary_leaves_a_verified_version",
    ) else {
        return;
    };
    let boundaries = [
        Boundary {
            name: "after the upload",
            mark: "N=\"slots/$S.new\"",
            before: true,
            damage: "",
            runs: "v1",
            result: "failed",
        },
        Boundary {
            name: "after the install, before the switch",
            mark: "point() {",
            before: true,
            damage: "",
            runs: "v1",
            result: "failed",
        },
        Boundary {
            name: "after the switch, before the check",
            mark: "point \"$S\" || { rm -f switching; exit 44; }",
            before: false,
            damage: "",
            runs: "v2",
            result: "failed",
        },
        Boundary {
            name: "after the switch, before the check, the new slot broken",
            mark: "point \"$S\" || { rm -f switching; exit 44; }",
            before: false,
            damage: "echo broken > \"slots/$S/SLOT\"",
            runs: "v1",
            result: "failed",
        },
        Boundary {
            name: "after the check",
            mark: "rm -f switching\nrm -rf staging",
            before: false,
            damage: "",
            runs: "v2",
            result: "ok",
        },
    ];
    let d = board.install_dir.display().to_string();
    let cases = boundaries
        .iter()
        .flat_map(|b| ["deploy", "flash"].map(|op| (op, b)));
    for (op, b) in cases {
        let work = tempfile::tempdir().unwrap();
        board.sh(&format!("rm -rf {d}"));
        install_v1(&board, work.path());
        let kill = if b.damage.is_empty() {
            "kill -9 $$".to_string()
        } else {
            format!("{}; kill -9 $$", b.damage)
        };
        std::fs::write(work.path().join("mark"), b.mark).unwrap();
        std::fs::write(work.path().join("kill"), &kill).unwrap();
        let killer = script(
            &work.path().join("ssh-kill"),
            &format!(
                "#!/bin/bash\n\
                 w='{w}'\n\
                 mark=$(cat \"$w/mark\"); kill=$(cat \"$w/kill\")\n\
                 args=()\n\
                 for a in \"$@\"; do\n\
                   if [ ! -e \"$w/fired\" ] && [[ \"$a\" == *\"$mark\"* ]]; then\n\
                     touch \"$w/fired\"\n\
                     if [ {before} = 1 ]; then a=\"${{a/\"$mark\"/\"$kill\"$'\\n'\"$mark\"}}\";\n\
                     else a=\"${{a/\"$mark\"/\"$mark\"$'\\n'\"$kill\"}}\"; fi\n\
                   fi\n\
                   args+=(\"$a\")\n\
                 done\n\
                 exec ssh \"${{args[@]}}\"\n",
                w = work.path().display(),
                before = if b.before { 1 } else { 0 },
            ),
        );
        let m2 = write(work.path(), "har.safetensors", &gru_model(2));
        let args = if op == "deploy" {
            deploy_args(&board, &m2, "v2", &["-q"])
        } else {
            let img = build_image(work.path(), &m2, "v2", &[]);
            with_board(&["flash", img.to_str().unwrap()], &board)
        };
        let r = deepiot_owned(&through(args, &killer));
        let b_name = format!("{op} {}", b.name);
        let b = Boundary {
            name: Box::leak(b_name.into_boxed_str()),
            ..*b
        };
        assert!(
            work.path().join("fired").exists(),
            "{}: the kill was never inserted",
            b.name
        );
        assert_ne!(r.code, 0, "{}: a killed deploy reported success", b.name);
        // The host says where the board stands.
        assert!(r.stderr.contains("is active"), "{}: {}", b.name, r.stderr);
        if b.name.contains("before the check") {
            r.expect_stderr("cut short before its check");
        }
        if b.name.ends_with("after the check") {
            r.expect_stderr("had finished on the board");
        }

        // Straight after the failed deploy, before anything else touches the board.
        let (_, raw) = board.sh(&format!("ls -a {d}; cat {d}/status"));
        assert!(
            !raw.lines().any(|l| l.starts_with("switching")),
            "{}: an unsettled switch was left\n{raw}",
            b.name
        );
        let s = status(&board);
        assert_eq!(active_version(&s), b.runs, "{}: {s}", b.name);
        assert_eq!(s["last"]["op"], op, "{}: {s}", b.name);
        assert_eq!(s["last"]["result"], b.result, "{}: {s}", b.name);
        if b.name.contains("before the check") {
            let settled = s["last"]["settled"].as_str().unwrap_or_default();
            assert!(
                settled.contains("cut short before its check"),
                "{}: the status does not say why: {s}",
                b.name
            );
        }
        // The version the board claims is the one that runs.
        assert_runs(&board, work.path(), b.runs, b.name);
        eprintln!(
            "{}: exit {}, board on {} ({}), as required; the host said: {}",
            b.name,
            r.code,
            b.runs,
            b.result,
            r.stderr
                .trim()
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
}

/// A switch left unchecked by a session the host could not follow up (the connection
/// gone for good) is settled by the next command that reaches the board, even `board
/// status`: here the new slot does not run, so the board goes back to v1 and says why.
#[test]
fn the_next_command_settles_a_switch_left_unchecked() {
    let Some(board) =
        StandinBoard::start_or_skip("the_next_command_settles_a_switch_left_unchecked")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    install_v1(&board, work.path());
    let v1 = status(&board)["active"].as_str().unwrap().to_string();
    let m2 = write(work.path(), "har.safetensors", &gru_model(2));
    deepiot_owned(&deploy_args(&board, &m2, "v2", &["-q"])).expect_code(0);
    let v2 = status(&board)["active"].as_str().unwrap().to_string();
    // What a session killed right after the pointer moved leaves, with a new slot that
    // then does not run.
    let d = board.install_dir.display().to_string();
    board.sh(&format!(
        "echo '{v2} {v1}' > {d}/switching; echo broken > {d}/slots/{v2}/SLOT"
    ));
    deepiot_owned(&with_board(&["board", "status"], &board))
        .expect_code(0)
        .expect_stderr("cut short before its check")
        .expect_stdout("settle rolled_back");
    let s = status(&board);
    assert_eq!(s["active"], v1.as_str(), "{s}");
    assert_eq!(s["last"]["op"], "settle", "{s}");
    assert_on_v1(&board, work.path());
    let (_, ls) = board.sh(&format!("ls {d}"));
    assert!(!ls.lines().any(|l| l == "switching"), "{ls}");
}
