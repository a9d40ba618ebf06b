//! `deepiot bench` on a stand-in board (the real i686 runtime times the models there)
//! and over an inventory of boards in parallel, failures included.
mod support;

use support::board::{deepiot, deepiot_owned, free_port, with_board, write, StandinBoard};
use support::{gru_model, i686_runtime, lenet5_random};

#[test]
fn bench_prints_models_side_by_side_with_the_ratio_to_the_first() {
    let Some(board) =
        StandinBoard::start_or_skip("bench_prints_models_side_by_side_with_the_ratio_to_the_first")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rt = i686_runtime().display().to_string();
    let big = write(work.path(), "lenet.safetensors", &lenet5_random(1));
    let small = write(work.path(), "har.safetensors", &gru_model(1));
    let args = [
        "bench",
        big.to_str().unwrap(),
        small.to_str().unwrap(),
        "--runtime",
        &rt,
        "--iterations",
        "30",
        "--warmup",
        "3",
    ];
    let mut json_args = with_board(&args, &board);
    json_args.push("--json".into());
    let r = deepiot_owned(&json_args);
    r.expect_code(0);
    let j = r.json();
    let res = j["results"].as_array().unwrap();
    assert_eq!(res.len(), 2);
    assert_eq!(res[0]["model"], "lenet");
    assert_eq!(res[0]["ratio"], 1.0);
    for m in res {
        let t = &m["timing"];
        assert!(t["mean_us"].as_f64().unwrap() > 0.0, "{m}");
        assert!(t["p99_us"].as_f64().unwrap() >= t["p50_us"].as_f64().unwrap());
        assert_eq!(t["allocations"], 0);
        assert!(t["arena_bytes"].as_u64().unwrap() > 0);
        assert!(m["error"].is_null());
    }
    assert_eq!(res[0]["timing"]["weight_bytes"], 431_080 * 4);
    // The energy estimate: p50 x the Edison description's sourced active power.
    let watts = j["energy_estimate"]["watts"].as_f64().unwrap();
    assert!(j["energy_estimate"]["source"]
        .as_str()
        .unwrap()
        .contains("scivision"));
    for m in res {
        let p50 = m["timing"]["p50_us"].as_f64().unwrap();
        let uj = m["energy_uj_estimate"].as_f64().unwrap();
        assert!((uj - p50 * watts).abs() < 1e-6 * uj.max(1.0), "{m}");
    }

    // The table, second run: the files are on the board already (not sent again).
    let r = deepiot_owned(&with_board(&args, &board));
    r.expect_code(0);
    for col in [
        "mean µs",
        "p50 µs",
        "p99 µs",
        "peak RSS",
        "arena",
        "weights",
        "vs first",
        "1.00x",
        "µJ est.",
        "an estimate, p50 x 0.9 W",
    ] {
        assert!(r.stdout.contains(col), "missing {col}:\n{}", r.stdout);
    }
    assert!(!r.stderr.contains("resuming"), "{}", r.stderr);
}

#[test]
fn bench_over_an_inventory_runs_boards_in_parallel_and_reports_each() {
    let Some(b1) = StandinBoard::start_or_skip(
        "bench_over_an_inventory_runs_boards_in_parallel_and_reports_each",
    ) else {
        return;
    };
    let Some(b2) = StandinBoard::start_or_skip(
        "bench_over_an_inventory_runs_boards_in_parallel_and_reports_each",
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rt = i686_runtime().display().to_string();
    let m = write(work.path(), "har.safetensors", &gru_model(1));
    let dead = free_port();
    let entry = |name: &str, b: &StandinBoard| {
        format!(
            "[[board]]\nname = \"{name}\"\naddress = \"{}\"\nssh_config = \"{}\"\ndir = \"{}\"\n\n",
            b.address(),
            b.ssh_config.display(),
            b.install_dir.display()
        )
    };
    let inventory = format!(
        "# three boards, one of them off\n{}{}[[board]]\nname = \"off\"\naddress = \"root@127.0.0.1:{dead}\"\nssh_config = \"/dev/null\"\ndir = \"/tmp/none\"\n",
        entry("lab-1", &b1),
        entry("lab-2", &b2)
    );
    let inv = write(work.path(), "boards.toml", inventory.as_bytes());
    let r = deepiot(&[
        "bench",
        m.to_str().unwrap(),
        "--boards",
        inv.to_str().unwrap(),
        "--runtime",
        &rt,
        "-n",
        "20",
        "--jobs",
        "3",
        "--connect-timeout",
        "5",
        "--json",
    ]);
    r.expect_code(19);
    let j = r.json();
    assert_eq!(j["total"], 3);
    assert_eq!(j["failed"], 1);
    let boards = j["boards"].as_array().unwrap();
    assert_eq!(boards[0]["name"], "lab-1");
    assert_eq!(boards[0]["ok"], true);
    assert_eq!(boards[1]["ok"], true);
    assert!(
        boards[1]["results"][0]["timing"]["mean_us"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(boards[2]["ok"], false);
    assert_eq!(boards[2]["error"]["kind"], "unreachable");
    assert_eq!(boards[2]["error"]["exit_code"], 10);

    // A broken inventory is a local problem (exit 3).
    let bad = write(work.path(), "bad.toml", b"[[board]]\nname = 1\n");
    let r = deepiot(&[
        "bench",
        m.to_str().unwrap(),
        "--boards",
        bad.to_str().unwrap(),
        "--runtime",
        &rt,
    ]);
    r.expect_code(3);
    assert!(r.stderr.contains("not a board inventory"), "{}", r.stderr);
}
