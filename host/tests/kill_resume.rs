//! `kill -9` at random moments during `deepiot train` and `deepiot compress`, then
//! `--resume` until the run completes: the final model is byte-identical to the one an
//! uninterrupted run writes (same seed, same threads), and after every kill each file on
//! disk, checkpoint or model, is whole.
//!
//! The kill points (after a random number of progress lines, plus a random fraction of a
//! step) are drawn from a seed the test prints; `KILL_SEED=N` repeats them.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn deepiot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deepiot"));
    // Byte-identical results need the same thread count in every process.
    c.env("RAYON_NUM_THREADS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn bundled() -> String {
    deepiot::data::bundled_dir().display().to_string()
}

/// Runs `args` to completion.
fn run_straight(args: &[String]) {
    let out = deepiot().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every checkpoint in `ckpt_dir` and the model `out`, where present, reads back whole.
fn assert_files_whole(ckpt_dir: &Path, out: &Path, after: &str) {
    if let Ok(entries) = std::fs::read_dir(ckpt_dir) {
        for e in entries {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue; // a temporary name: never read, replaced by the next write
            }
            let loaded = deepiot::checkpoint_file::load::<serde_json::Value>(&p);
            assert!(
                loaded.is_ok(),
                "{after}: {} is broken: {:?}",
                p.display(),
                loaded.err()
            );
        }
    }
    if out.exists() {
        let bytes = std::fs::read(out).unwrap();
        assert!(
            deepiot_format::parse(&bytes).is_ok(),
            "{after}: {} is broken",
            out.display()
        );
    }
}

/// When to kill a run: after it has printed `lines` more progress lines (an epoch, or an
/// evaluation of the search) and then `extra` more time, so that the kill lands at a
/// random point inside the work, not before the process has started or after its end.
#[derive(Debug, Clone, Copy)]
struct Kill {
    lines: usize,
    extra: Duration,
}

/// Starts `args` (with `--resume` whenever `resume_from` exists), kills it with SIGKILL
/// at each of `kills`, and then lets it finish. Returns how many kills landed before the
/// process had ended by itself.
fn run_with_kills(
    args: &[String],
    resume_from: &Path,
    ckpt_dir: &Path,
    out: &Path,
    kills: &[Kill],
) -> usize {
    use std::io::BufRead;
    let mut landed = 0;
    let mut pending = kills.iter();
    loop {
        let mut cmd = deepiot();
        cmd.args(args);
        if resume_from.exists() {
            cmd.arg("--resume");
        }
        let mut child = cmd.spawn().unwrap();
        let Some(kill) = pending.next() else {
            let o = child.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "the resumed run failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return landed;
        };
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.starts_with("epoch ") || line.starts_with("iter ") {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut seen = 0;
        while seen < kill.lines && rx.recv().is_ok() {
            seen += 1;
        }
        std::thread::sleep(kill.extra);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            landed += 1;
            assert_files_whole(ckpt_dir, out, &format!("kill {landed} ({kill:?})"));
        } else {
            let status = child.wait().unwrap();
            let log = reader.join().unwrap();
            assert!(status.success(), "{log}");
            if !resume_from.exists() && out.exists() {
                return landed;
            }
        }
    }
}

/// `n` kill points drawn from a seed (printed; `KILL_SEED=N` repeats them).
fn kill_points(name: &str, n: usize, max_lines: usize) -> Vec<Kill> {
    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut rng = deepiot::rng::Rng::new(seed);
    let kills: Vec<Kill> = (0..n)
        .map(|_| Kill {
            lines: rng.below(max_lines + 1),
            extra: Duration::from_micros(rng.below(80_000) as u64),
        })
        .collect();
    eprintln!("{name}: KILL_SEED={seed}, kills {kills:?}");
    kills
}

fn report_without_timings(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|k, _| {
                    !(k.contains("seconds")
                        || k == "resumed_after"
                        || k == "file"
                        || k == "data_root"
                        || k == "threads")
                });
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Runs `args(OUT)` once straight through, then again with five kills and resumes, and
/// checks that both runs end with the same model, byte for byte, and the same report
/// but for timings, and that no checkpoint is left. `resume_from(OUT)` is the file whose
/// presence means there is something to resume; `report(OUT)` the report's path.
fn check_kill_and_resume(
    name: &str,
    args: impl Fn(&Path) -> Vec<String>,
    resume_from: impl Fn(&Path) -> std::path::PathBuf,
    report: impl Fn(&Path) -> std::path::PathBuf,
    max_lines: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight.safetensors");
    run_straight(&args(&straight));

    let out = dir.path().join("killed.safetensors");
    let ckpt_dir = deepiot::train::checkpoint_dir(&out);
    let landed = run_with_kills(
        &args(&out),
        &resume_from(&out),
        &ckpt_dir,
        &out,
        &kill_points(name, 5, max_lines),
    );
    assert!(
        landed >= 3,
        "only {landed} of 5 kills landed before the end"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&straight).unwrap(),
        "after {landed} kills the model differs from the uninterrupted run's"
    );
    assert_eq!(
        report_without_timings(&report(&out)),
        report_without_timings(&report(&straight))
    );
    assert!(!ckpt_dir.exists(), "the checkpoints are removed at the end");
}

#[test]
fn train_killed_at_random_times_resumes_to_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let init = common::tiny_mnist_model(dir.path());
    let args = |out: &Path| -> Vec<String> {
        [
            "train",
            "--task",
            "mnist-lenet5",
            "--init",
            init.to_str().unwrap(),
            "--data",
            &bundled(),
            "--max-train",
            "640",
            "--epochs",
            "30",
            "--patience",
            "30",
            "--augment",
            "shift",
            "--dropout",
            "0.2",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    check_kill_and_resume(
        "train",
        args,
        |out| deepiot::train::Checkpoint::beside(out).file,
        deepiot::train::report_path,
        6,
    );
}

#[test]
fn compress_killed_at_random_times_resumes_to_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_mnist_model(dir.path());
    let args = |out: &Path| -> Vec<String> {
        [
            "compress",
            model.to_str().unwrap(),
            "--data",
            &bundled(),
            "--max-train",
            "640",
            "--target-kept",
            "0.4",
            "--max-drop",
            "100",
            "--period",
            "10",
            "--delta",
            "0.05",
            "--eval-every",
            "20",
            "--max-iterations",
            "400",
            "--finetune-epochs",
            "30",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    check_kill_and_resume(
        "compress",
        args,
        |out| deepiot::compress::search::search_checkpoint(&deepiot::train::checkpoint_dir(out)),
        deepiot::compress::report::report_path,
        8,
    );
}
