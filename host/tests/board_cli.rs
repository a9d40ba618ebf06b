//! The `deepiot` binary's board commands are `deepiot-board`'s (the board tests run that
//! one, which builds without candle): the same help for every board subcommand, and one
//! deploy + `board status` through `deepiot` itself against a stand-in board, so the
//! wiring of the host binary is checked too.
use deepiot_board::testing::i686_runtime;
use deepiot_board::testing::standin::{deepiot_bin, run_bin, with_board, write, StandinBoard};
use std::path::Path;

use deepiot_format::{reference, testing};

fn deepiot() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_deepiot"))
}

#[test]
fn board_subcommands_have_the_same_help_in_both_binaries() {
    for args in [
        &["deploy", "--help"][..],
        &["bench", "--help"],
        &["image", "--help"],
        &["image", "build", "--help"],
        &["image", "inspect", "--help"],
        &["flash", "--help"],
        &["board", "--help"],
        &["board", "status", "--help"],
        &["runtime", "--help"],
    ] {
        let host = run_bin(deepiot(), args, &[]);
        let board = run_bin(deepiot_bin(), args, &[]);
        host.expect_code(0);
        board.expect_code(0);
        assert_eq!(
            host.stdout,
            board.stdout.replace("deepiot-board", "deepiot"),
            "{args:?}"
        );
    }
    // A usage error is exit 2 in both.
    for bin in [deepiot(), deepiot_bin()] {
        run_bin(bin, &["deploy"], &[]).expect_code(2);
    }
}

#[test]
fn deepiot_itself_deploys_to_a_standin_board() {
    let Some(board) = StandinBoard::start_or_skip("deepiot_itself_deploys_to_a_standin_board")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rt = i686_runtime().display().to_string();
    let m = write(
        work.path(),
        "har.safetensors",
        &testing::random_model(&reference::deepsense_gru(), 1),
    );
    let args = with_board(
        &["deploy", m.to_str().unwrap(), "--runtime", &rt, "--json"],
        &board,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run_bin(deepiot(), &args, &[]);
    r.expect_code(0);
    assert_eq!(r.json()["slot"], "a");
    let args = with_board(&["board", "status", "--json"], &board);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = run_bin(deepiot(), &args, &[]);
    s.expect_code(0);
    let s = s.json();
    assert_eq!(s["active"], "a");
    assert_eq!(s["last"]["op"], "deploy");
    assert_eq!(s["last"]["result"], "ok");
}
