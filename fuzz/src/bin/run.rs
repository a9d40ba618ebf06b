//! `fuzz-run [TARGET|all] [--cases N] [--seed S]`: the stable driver, seeded mutations of
//! each target's seeds and of `fuzz/regressions/TARGET/*` through its check, counting
//! cases, crashes (panics, caught) and hangs (cases over 2 s). Crashing inputs are
//! written to `fuzz/crashes/TARGET/` to become regression files. Exits 1 on any crash or
//! hang. Build it with `--profile fuzz` (the release profile aborts on panic).
use deepiot_fuzz::{run, seeds, Target, HANG};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: u64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse().unwrap_or_else(|_| {
                    eprintln!("error: {flag} takes a whole number, got `{v}`");
                    std::process::exit(2)
                })
            })
            .unwrap_or(default)
    };
    let (cases, seed) = (value("--cases", 100_000), value("--seed", 1));
    let which = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map_or("all", |s| s.as_str());
    let targets: Vec<Target> = match which {
        "all" => Target::ALL.to_vec(),
        name => vec![Target::from_name(name).unwrap_or_else(|| {
            eprintln!("unknown target {name}; targets: model npy image board_reply onnx all");
            std::process::exit(2)
        })],
    };
    let mut failed = false;
    println!("target        cases   crashes  hangs  slowest ms  seconds  corpus");
    for t in targets {
        let mut corpus = seeds(t);
        corpus.extend(deepiot_fuzz::regressions(t));
        let r = run(t, &corpus, cases, seed);
        println!(
            "{:<12} {:>8} {:>8} {:>6} {:>11.1} {:>8.1} {:>7}",
            t.name(),
            r.cases,
            r.crashes.len(),
            r.hangs.len(),
            r.slowest.as_secs_f64() * 1e3,
            r.seconds,
            corpus.len()
        );
        let dir = Path::new("fuzz/crashes").join(t.name());
        for (i, (input, msg)) in r.crashes.iter().enumerate() {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("crash-{seed}-{i}")), input);
            eprintln!("  crash {i}: {msg}");
        }
        for (i, input) in r.hangs.iter().enumerate() {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(dir.join(format!("hang-{seed}-{i}")), input);
            eprintln!("  hang {i}: over {HANG:?}");
        }
        failed |= !r.crashes.is_empty() || !r.hangs.is_empty();
    }
    std::process::exit(i32::from(failed));
}
