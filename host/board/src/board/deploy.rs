//! `deepiot deploy MODEL... --board USER@HOST[:PORT]`: the runtime and the models onto a
//! board, verified, atomically, the previous version kept.
use super::error::{BoardError, Result};
use super::progress::Progress;
use super::session::{installed_by, render_kv, sha256_hex, utc_now, Payload};
use super::{check_model, human_bytes, read_local, remote, runtime_binary};
use super::{PrintConfig, SshConfig, TargetConfig, TransferConfig};
use std::path::PathBuf;
use std::time::Instant;

/// What `deploy` puts where. Everything but `models` has a default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployConfig {
    /// Model files (.safetensors) to install; each goes to models/NAME.safetensors.
    pub models: Vec<PathBuf>,
    /// Where the board is and how to reach it.
    pub ssh: SshConfig,
    pub transfer: TransferConfig,
    pub print: PrintConfig,
    pub target: TargetConfig,
    /// A runtime binary to use instead of building deepiot-run for the target.
    pub runtime: Option<PathBuf>,
    /// A version label recorded on the board (default: deploy-HASH of the files).
    pub label: Option<String>,
}

/// Installs the runtime and the models into the board's inactive slot, checks them
/// there and makes that slot the active one; prints what was done.
pub fn run(a: &DeployConfig) -> Result<()> {
    let started = Instant::now();
    let progress = Progress::new(a.print.quiet);
    let target = a.target.load()?;

    // Everything local is checked before the board is touched.
    let mut models = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for path in &a.models {
        let bytes = read_local(path, "model file")?;
        let name = check_model(path, &bytes)?;
        if !names.insert(name.clone()) {
            return Err(BoardError::Usage(format!(
                "two models are named {name}; the board keeps one file per name"
            )));
        }
        models.push(Payload::new(
            format!("models/{name}.safetensors"),
            bytes,
            false,
        ));
    }
    let session = a
        .ssh
        .session(target.clone(), a.transfer.transfer()?, progress.clone())?;
    let (runtime_path, runtime) = runtime_binary(a.runtime.as_deref(), &target, &progress)?;
    let runtime = Payload::new("deepiot-run", runtime, true);
    let mut files: Vec<&Payload> = vec![&runtime];
    files.extend(models.iter());

    let label = match &a.label {
        Some(l) => l.clone(),
        None => {
            let all: String = files
                .iter()
                .map(|p| format!("{} {}\n", p.sha256, p.path))
                .collect();
            format!("deploy-{}", &sha256_hex(all.as_bytes())[..12])
        }
    };
    if label.is_empty() || label.chars().any(|c| c.is_control()) {
        return Err(BoardError::Usage("--label must be one line of text".into()));
    }

    progress.step(format!(
        "connecting to {} (target {}, install dir {})",
        session.board(),
        target.name,
        session.dir
    ));
    let start = session.probe_install(&files)?;
    let (st, slot) = (&start.state, start.slot);
    let (previous, prev_version) = (&start.previous, &start.prev_version);
    let result = (|| -> Result<super::session::UploadStats> {
        session.check_space(st, &files)?;
        let stats = session.upload(st, &files)?;
        progress.step(format!("installing into slot {slot} and checking it"));
        let info = render_kv(&[
            ("slot", slot.to_string()),
            ("version", label.clone()),
            ("source", "deploy".into()),
            ("target", target.name.clone()),
            ("runtime_sha256", runtime.sha256.clone()),
            (
                "models",
                models
                    .iter()
                    .map(|m| m.path.trim_start_matches("models/"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("installed_at", utc_now()),
            ("installed_by", installed_by()),
        ]);
        let status = render_kv(&[
            ("op", "deploy".into()),
            ("result", "ok".into()),
            ("slot", slot.to_string()),
            ("version", label.clone()),
            ("at", utc_now()),
            (
                "message",
                format!("deployed {} model(s) into slot {slot}", models.len()),
            ),
        ]);
        let check = remote::smoke_lines(&models.iter().map(|m| m.path.clone()).collect::<Vec<_>>());
        let after = session.switch_lines(slot, previous.as_deref(), &status);
        session.install(slot, &files, &info, &check, &after, "installing", |_| {})?;
        Ok(stats)
    })();
    let stats = match result {
        Ok(s) => s,
        Err(e) => {
            session.record_failure(
                "deploy",
                &e,
                Some(slot),
                &[
                    ("version", label.clone()),
                    ("kept", previous.clone().unwrap_or_default()),
                ],
            );
            return Err(e);
        }
    };
    let secs = started.elapsed().as_secs_f64();

    let base = format!("{}/active", session.dir);
    if a.print.json {
        let v = serde_json::json!({
            "board": session.board(),
            "target": target.name,
            "dir": session.dir,
            "slot": slot,
            "version": label,
            "previous": previous.as_ref().map(|p| serde_json::json!({"slot": p, "version": prev_version})),
            "runtime": {"path": format!("{base}/deepiot-run"), "sha256": runtime.sha256, "bytes": runtime.data.len(), "source": runtime_path},
            "models": models.iter().map(|m| serde_json::json!({
                "path": format!("{base}/{}", m.path), "sha256": m.sha256, "bytes": m.data.len()})).collect::<Vec<_>>(),
            "bytes_sent": stats.bytes_sent,
            "files_sent": stats.files_sent,
            "files_already_on_board": stats.files_already_there,
            "pieces_resumed": stats.pieces_resumed,
            "retries": stats.retries,
            "seconds": (secs * 1000.0).round() / 1000.0,
        });
        println!("{v}");
    } else {
        println!(
            "deployed {label} to {}:{} (slot {slot}, now active) in {secs:.1} s",
            session.board(),
            session.dir
        );
        let width = files
            .iter()
            .map(|p| base.len() + 1 + p.path.len())
            .max()
            .unwrap_or(0)
            .max(17);
        println!("  {:<width$} {:>10}  sha256", "file on the board", "size");
        for p in &files {
            println!(
                "  {:<width$} {:>10}  {}",
                format!("{base}/{}", p.path),
                human_bytes(p.data.len() as u64),
                &p.sha256[..16]
            );
        }
        println!(
            "  sent {} in {} file(s); {} file(s) were already on the board{}",
            human_bytes(stats.bytes_sent),
            stats.files_sent,
            stats.files_already_there,
            stats.resumed_note()
        );
        start.print_kept();
        if let Some(m) = models.first() {
            let port = session
                .ssh
                .address
                .port
                .map(|p| format!("-p {p} "))
                .unwrap_or_default();
            println!(
                "  try: ssh {port}{} {base}/deepiot-run bench {base}/{}",
                session.ssh.address.destination(),
                m.path
            );
        }
    }
    Ok(())
}
