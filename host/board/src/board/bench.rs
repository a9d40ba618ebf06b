//! `deepiot bench MODEL... --board B` (or `--boards INVENTORY`): times every model with
//! `deepiot-run bench` on the board itself, in one ssh session per board, and prints
//! them side by side with the ratio to the first model.
use super::error::{BoardError, Result};
use super::progress::Progress;
use super::session::{Payload, Session};
use super::{check_model, human_bytes, read_local, remote, runtime_binary, target};
use super::{PrintConfig, SshConfig, TargetConfig, TransferConfig};
use crate::runtime_json::BenchReport;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What `bench` times, where and how long. Everything but `models` has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Model files (.safetensors) to time; the first is the baseline of the ratio column.
    pub models: Vec<PathBuf>,
    /// The board (with `boards`: the settings every board of the inventory starts from).
    pub ssh: SshConfig,
    /// An inventory of boards (TOML, `[[board]]` entries with `name` and `address`), run
    /// in parallel instead of the one board of `ssh`.
    pub boards: Option<PathBuf>,
    /// How many boards of the inventory at once (1 to 64).
    pub jobs: usize,
    /// The kind of board (an inventory entry may name another).
    pub target: TargetConfig,
    /// A runtime binary to use instead of building deepiot-run for the target.
    pub runtime: Option<PathBuf>,
    /// Timed inferences per model (1 to 1000000).
    pub iterations: u32,
    /// Untimed inferences first.
    pub warmup: u32,
    pub transfer: TransferConfig,
    pub print: PrintConfig,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            models: Vec::new(),
            ssh: SshConfig::default(),
            boards: None,
            jobs: 4,
            target: TargetConfig::default(),
            runtime: None,
            iterations: 200,
            warmup: 20,
            transfer: TransferConfig::default(),
            print: PrintConfig::default(),
        }
    }
}

/// One model's result on one board.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    pub model: String,
    pub timing: Option<BenchReport>,
    /// Mean latency over the first model's.
    pub ratio: Option<f64>,
    /// Estimated microjoules per inference: p50 x the target's `active_power_w`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_uj_estimate: Option<f64>,
    pub error: Option<String>,
}

/// One board of an inventory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryBoard {
    pub name: String,
    pub address: String,
    #[serde(default)]
    pub identity: Option<PathBuf>,
    #[serde(default)]
    pub ssh_config: Option<PathBuf>,
    #[serde(default)]
    pub ssh_options: Vec<String>,
    #[serde(default)]
    pub dir: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Inventory {
    #[serde(default)]
    board: Vec<InventoryBoard>,
}

/// Reads an inventory; relative key and config paths are taken from its folder.
pub fn read_inventory(path: &Path) -> Result<Vec<InventoryBoard>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BoardError::bad_input(path, format!("cannot read the inventory: {e}")))?;
    let inv: Inventory = toml::from_str(&text).map_err(|e| {
        BoardError::bad_input(
            path,
            format!("not a board inventory: {e}\n  expected entries like\n  [[board]]\n  name = \"lab-1\"\n  address = \"root@192.0.2.10\""),
        )
    })?;
    if inv.board.is_empty() {
        return Err(BoardError::bad_input(
            path,
            "the inventory lists no [[board]]",
        ));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut names = std::collections::BTreeSet::new();
    let mut boards = inv.board;
    for b in &mut boards {
        if !names.insert(b.name.clone()) {
            return Err(BoardError::bad_input(
                path,
                format!("board name {:?} appears twice", b.name),
            ));
        }
        for p in [&mut b.identity, &mut b.ssh_config].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
    Ok(boards)
}

/// Times `models` on one board: uploads what is missing, runs them all in one session.
pub fn bench_board(
    session: &Session,
    runtime: &Payload,
    models: &[(String, Payload)],
    iterations: u32,
    warmup: u32,
) -> Result<Vec<ModelResult>> {
    session.progress.step(format!(
        "connecting to {} (install dir {})",
        session.board(),
        session.dir
    ));
    let st = session.probe(false, &[])?;
    let mut files: Vec<&Payload> = vec![runtime];
    files.extend(models.iter().map(|(_, p)| p));
    let missing: Vec<&Payload> = files
        .iter()
        .copied()
        .filter(|p| st.find(&p.sha256).is_none())
        .collect();
    session.check_space(&st, &missing)?;
    session.upload(&st, &missing)?;
    let at = |p: &Payload| {
        st.find(&p.sha256)
            .unwrap_or_else(|| format!("staging/{}", p.sha256))
    };

    let mut runs = String::new();
    for (i, (_, p)) in models.iter().enumerate() {
        runs.push_str(&format!("one {i} {}\n", at(p)));
    }
    let body = remote::BENCH.replace("@@RUNS@@", runs.trim_end());
    let its = iterations.to_string();
    let wu = warmup.to_string();
    let rt = at(runtime);
    let script = remote::render(
        &body,
        &[("D", &session.dir), ("R", &rt), ("N", &its), ("W", &wu)],
    );
    session.progress.step(format!(
        "timing {} model(s) on {}: {iterations} runs each after {warmup} warm-up",
        models.len(),
        session.board()
    ));
    let bar = session.progress.count(models.len() as u64, "benchmarking");
    let mut results: Vec<ModelResult> = models
        .iter()
        .map(|(name, _)| ModelResult {
            model: name.clone(),
            timing: None,
            ratio: None,
            energy_uj_estimate: None,
            error: Some("did not run".into()),
        })
        .collect();
    let mut current: Option<usize> = None;
    let out = session.ssh.run_streaming(&script, "benchmarking", |line| {
        if let Some(i) = line.strip_prefix("@bench ") {
            current = i.trim().parse().ok();
            if let Some(r) = current.and_then(|i| results.get_mut(i)) {
                r.error = Some("no result (the runtime printed nothing)".into());
            }
        } else if let Some(rest) = line.strip_prefix("@failed ") {
            let mut it = rest.split_whitespace();
            let i: Option<usize> = it.next().and_then(|s| s.parse().ok());
            let code = it.next().unwrap_or("?");
            if let Some(r) = i.and_then(|i| results.get_mut(i)) {
                let why = match code {
                    "1" if r.timing.as_ref().is_some_and(|t| t.allocations > 0) => {
                        "inference allocated on the heap (must be 0)".to_string()
                    }
                    "3" => "the runtime rejected the model file (exit 3)".to_string(),
                    "126" | "127" => format!("the runtime cannot run on this board (exit {code})"),
                    c => format!("deepiot-run bench failed with exit {c}"),
                };
                r.error = Some(why);
            }
            bar.inc(1);
        } else if line.starts_with('{') {
            if let Some(r) = current.and_then(|i| results.get_mut(i)) {
                match serde_json::from_str::<BenchReport>(line) {
                    Ok(t) => {
                        r.timing = Some(t);
                        r.error = None;
                    }
                    Err(e) => r.error = Some(format!("unreadable result: {e}")),
                }
            }
            bar.inc(1);
        }
    })?;
    bar.finish_and_clear();
    if !out.ok() {
        return Err(session.script_error(&out, "benchmarking"));
    }
    // The runtime's complaints (one per failed model) go with the results.
    let complaints: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("deepiot-run: error"))
        .collect();
    let mut ci = complaints.iter();
    for r in results.iter_mut().filter(|r| r.error.is_some()) {
        if let (Some(e), Some(c)) = (r.error.as_mut(), ci.next()) {
            e.push_str(&format!(": {}", c.trim()));
        }
    }
    let base = results
        .first()
        .and_then(|r| r.timing.as_ref())
        .map(|t| t.mean_us);
    for r in &mut results {
        if let (Some(b), Some(t)) = (base, &r.timing) {
            if b > 0.0 {
                r.ratio = Some(t.mean_us / b);
            }
        }
    }
    Ok(results)
}

/// Fills in each timed model's energy estimate from the board's power, if known.
pub fn add_energy(results: &mut [ModelResult], energy: Option<&target::EnergyEstimate>) {
    for r in results {
        r.energy_uj_estimate = match (energy, &r.timing) {
            (Some(e), Some(t)) => Some(e.microjoules(t.p50_us)),
            _ => None,
        };
    }
}

/// The side-by-side table; with a power figure, an estimated energy column and a line
/// naming where the figure comes from.
pub fn table(results: &[ModelResult], energy: Option<&target::EnergyEstimate>) -> String {
    let mut s = format!(
        "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}{}\n",
        "model",
        "mean µs",
        "p50 µs",
        "p99 µs",
        "peak RSS",
        "arena",
        "weights",
        "vs first",
        if energy.is_some() { "   µJ est." } else { "" }
    );
    for r in results {
        match &r.timing {
            Some(t) => s.push_str(&format!(
                "{:<24} {:>10.1} {:>10.1} {:>10.1} {:>10} {:>10} {:>10} {:>8}{}{}\n",
                r.model,
                t.mean_us,
                t.p50_us,
                t.p99_us,
                t.peak_rss_kib.map_or("?".into(), |k| human_bytes(k * 1024)),
                human_bytes(t.arena_bytes),
                human_bytes(t.weight_bytes),
                r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
                match (energy, r.energy_uj_estimate) {
                    (Some(_), Some(uj)) => format!(" {uj:>10.1}"),
                    (Some(_), None) => format!(" {:>10}", "-"),
                    _ => String::new(),
                },
                match &r.error {
                    Some(e) => format!("  ! {e}"),
                    None if t.debug_build => "  (debug build of the runtime: slow)".into(),
                    None => String::new(),
                }
            )),
            None => s.push_str(&format!(
                "{:<24} failed: {}\n",
                r.model,
                r.error.as_deref().unwrap_or("?")
            )),
        }
    }
    if let Some(e) = energy {
        s.push_str(&format!(
            "µJ est.: an estimate, p50 x {} W ({}); the paper measured 72.2-95.7 % less energy on an Edison\n",
            e.watts, e.source
        ));
    }
    s
}

/// Times the models on the board (or on every board of the inventory) and prints them
/// side by side; fails when a model or a board failed.
pub fn run(a: &BenchConfig) -> Result<()> {
    if a.iterations == 0 || a.iterations > 1_000_000 {
        return Err(BoardError::Usage(
            "--iterations must be between 1 and 1000000".into(),
        ));
    }
    let progress = Progress::new(a.print.quiet);
    let mut models = Vec::new();
    for path in &a.models {
        let bytes = read_local(path, "model file")?;
        let name = check_model(path, &bytes)?;
        let payload = Payload::new(format!("models/{name}.safetensors"), bytes, false);
        models.push((name, payload));
    }
    let transfer = a.transfer.transfer()?;
    let default_target = a.target.load()?;

    let Some(inventory) = &a.boards else {
        let (_, rt) = runtime_binary(a.runtime.as_deref(), &default_target, &progress)?;
        let runtime = Payload::new("deepiot-run", rt, true);
        let energy = default_target.energy();
        let session = a.ssh.session(default_target, transfer, progress)?;
        let mut results = bench_board(&session, &runtime, &models, a.iterations, a.warmup)?;
        add_energy(&mut results, energy.as_ref());
        let failed = results.iter().filter(|r| r.error.is_some()).count();
        if a.print.json {
            println!(
                "{}",
                serde_json::json!({"board": session.board(), "iterations": a.iterations, "warmup": a.warmup,
                    "energy_estimate": energy, "results": results})
            );
        } else {
            println!(
                "{} ({} runs per model after {} warm-up):",
                session.board(),
                a.iterations,
                a.warmup
            );
            print!("{}", table(&results, energy.as_ref()));
        }
        if failed > 0 {
            return Err(BoardError::BoardCommand {
                board: session.board(),
                detail: format!(
                    "{failed} of {} model(s) failed to run (see above)",
                    results.len()
                ),
            });
        }
        return Ok(());
    };

    // An inventory: boards in parallel, a bounded number at once.
    let boards = read_inventory(inventory)?;
    let mut runtimes = std::collections::BTreeMap::new();
    let mut targets = std::collections::BTreeMap::new();
    for b in &boards {
        let tname = b.target.clone().unwrap_or_else(|| a.target.target.clone());
        if targets.contains_key(&tname) {
            continue;
        }
        let t = target::load(&tname, a.target.targets_dir.as_deref())?;
        let (_, rt) = runtime_binary(a.runtime.as_deref(), &t, &progress)?;
        runtimes.insert(tname.clone(), Payload::new("deepiot-run", rt, true));
        targets.insert(tname, t);
    }
    let multi = indicatif::MultiProgress::new();
    let queue = Mutex::new(boards.iter().enumerate().collect::<Vec<_>>().into_iter());
    let outcomes: Mutex<Vec<Option<Result<Vec<ModelResult>>>>> =
        Mutex::new(boards.iter().map(|_| None).collect());
    let jobs = a.jobs.clamp(1, 64).min(boards.len());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.next());
                let Some((i, b)) = next else { break };
                let tname = b.target.clone().unwrap_or_else(|| a.target.target.clone());
                let r = (|| {
                    let t = targets[&tname].clone();
                    let mut ssh = a.ssh.clone();
                    ssh.board = Some(b.address.clone());
                    if b.identity.is_some() {
                        ssh.identity = b.identity.clone();
                    }
                    if b.ssh_config.is_some() {
                        ssh.ssh_config = b.ssh_config.clone();
                    }
                    if b.dir.is_some() {
                        ssh.dir = b.dir.clone();
                    }
                    let mut opts = b.ssh_options.clone();
                    opts.extend(ssh.ssh_options.iter().cloned());
                    ssh.ssh_options = opts;
                    let session = ssh.session(t, transfer, progress.for_board(&b.name, &multi))?;
                    let mut results =
                        bench_board(&session, &runtimes[&tname], &models, a.iterations, a.warmup)?;
                    add_energy(&mut results, targets[&tname].energy().as_ref());
                    Ok(results)
                })();
                match &r {
                    Ok(_) => progress.for_board(&b.name, &multi).step("done"),
                    Err(e) => progress
                        .for_board(&b.name, &multi)
                        .step(format!("failed: {e}")),
                }
                if let Ok(mut o) = outcomes.lock() {
                    o[i] = Some(r);
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap_or_default();
    let mut failed = 0;
    let mut json_boards = Vec::new();
    for (b, r) in boards.iter().zip(outcomes) {
        let r = r.unwrap_or_else(|| Err(BoardError::Other("not run".into())));
        let model_failed = r
            .as_ref()
            .map(|v| v.iter().any(|m| m.error.is_some()))
            .unwrap_or(false);
        if r.is_err() || model_failed {
            failed += 1;
        }
        if a.print.json {
            json_boards.push(match &r {
                Ok(v) => serde_json::json!({"name": b.name, "address": b.address, "ok": !model_failed, "results": v}),
                Err(e) => serde_json::json!({"name": b.name, "address": b.address, "ok": false,
                    "error": {"kind": e.kind(), "exit_code": e.exit_code(), "message": e.to_string()}}),
            });
        } else {
            println!("== {} ({})", b.name, b.address);
            match &r {
                Ok(v) => {
                    let tname = b.target.clone().unwrap_or_else(|| a.target.target.clone());
                    print!("{}", table(v, targets[&tname].energy().as_ref()))
                }
                Err(e) => println!("failed (exit {}): {e}", e.exit_code()),
            }
            println!();
        }
    }
    if a.print.json {
        println!(
            "{}",
            serde_json::json!({"iterations": a.iterations, "warmup": a.warmup, "boards": json_boards,
                "failed": failed, "total": boards.len()})
        );
    } else {
        println!(
            "{} board(s): {} ok, {failed} failed",
            boards.len(),
            boards.len() - failed
        );
    }
    if failed > 0 {
        return Err(BoardError::SomeBoardsFailed {
            failed,
            total: boards.len(),
        });
    }
    Ok(())
}
