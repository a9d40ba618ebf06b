//! `deepiot flash IMAGE --board B`: verify the image, send its members (verified,
//! resumable), install them into the inactive slot, self-test there, switch the active
//! slot atomically; any failure leaves (or puts) the board on its previous version.
use super::error::{BoardError, Result};
use super::image::{read_image, Golden};
use super::progress::Progress;
use super::session::{installed_by, render_kv, utc_now, Payload};
use super::ssh::quote;
use super::{human_bytes, remote, target, PrintConfig, SshConfig, TransferConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What `flash` installs where. Everything but `image` has a default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlashConfig {
    /// The image (from `deepiot image build`).
    pub image: PathBuf,
    /// Where the board is and how to reach it.
    pub ssh: SshConfig,
    pub transfer: TransferConfig,
    pub print: PrintConfig,
    /// Board description to use for the default address and install directory (default:
    /// the image's target).
    pub target: Option<String>,
    /// Folder of target descriptions (else $DEEPIOT_TARGETS_DIR, else the shipped ones).
    pub targets_dir: Option<PathBuf>,
}

/// Installs the image into the board's inactive slot, self-tests it there and switches
/// to it; on any failure the board stays on (or goes back to) its previous version.
pub fn run(a: &FlashConfig) -> Result<()> {
    let started = Instant::now();
    let progress = Progress::new(a.print.quiet);
    let img = read_image(&a.image)?;
    let m = &img.manifest;
    progress.step(format!(
        "image {} verified: version {}, {} model(s), {}",
        a.image.display(),
        m.version,
        m.models.len(),
        human_bytes(img.bytes)
    ));
    let tname = a.target.clone().unwrap_or_else(|| m.target.name.clone());
    let mut target = target::load(&tname, a.targets_dir.as_deref())?;
    if target.triple != m.target.triple {
        return Err(BoardError::Usage(format!(
            "the image is for {} ({}) but target {} is {}",
            m.target.name, m.target.triple, target.name, target.triple
        )));
    }
    // The image says which machines its runtime runs on.
    target.arch = m.target.arch.clone();

    let mut payloads: Vec<Payload> = Vec::new();
    for (path, data) in &img.files {
        payloads.push(Payload::new(
            path.clone(),
            data.clone(),
            path == &m.runtime.path,
        ));
    }
    // The runtime first: it is what a resumed transfer most likely has already.
    payloads.sort_by_key(|p| (p.path != m.runtime.path, p.path.clone()));
    let files: Vec<&Payload> = payloads.iter().collect();

    let session = a
        .ssh
        .session(target.clone(), a.transfer.transfer()?, progress.clone())?;
    progress.step(format!(
        "connecting to {} (install dir {})",
        session.board(),
        session.dir
    ));
    let start = session.probe_install(&files)?;
    let (st, slot) = (&start.state, start.slot);
    let (previous, prev_version) = (&start.previous, &start.prev_version);
    let models_line = m
        .models
        .iter()
        .map(|x| format!("{}.safetensors", x.name))
        .collect::<Vec<_>>()
        .join(" ");
    let extra = [
        ("version", m.version.clone()),
        ("image_sha256", img.sha256.clone()),
        ("kept", previous.clone().unwrap_or_default()),
    ];

    let outcome = (|| -> Result<(super::session::UploadStats, usize, f64)> {
        session.check_space(st, &files)?;
        let stats = session.upload(st, &files)?;
        progress.step(format!(
            "installing into slot {slot} and running the self-test there"
        ));
        let info = render_kv(&[
            ("slot", slot.to_string()),
            ("version", m.version.clone()),
            ("source", "image".into()),
            ("image_sha256", img.sha256.clone()),
            ("target", m.target.name.clone()),
            ("runtime_sha256", m.runtime.sha256.clone()),
            ("models", models_line.clone()),
            ("installed_at", utc_now()),
            ("installed_by", installed_by()),
        ]);
        let mut check = String::from(remote::SELFTEST_LINES);
        for md in &m.models {
            if md.golden.is_some() {
                check.push_str(&format!("one {} {}", quote(&md.name), quote(&md.file.path)));
                for i in &md.inputs {
                    check.push_str(&format!(" {}", quote(&i.path)));
                }
                check.push('\n');
            } else {
                // No expected output: the runtime must at least load the model.
                check.push_str(&remote::smoke_lines(std::slice::from_ref(&md.file.path)));
            }
        }
        let bar = progress.count(
            m.models.iter().filter(|x| x.golden.is_some()).count() as u64,
            "self-test",
        );
        let mut outputs: BTreeMap<String, Result<Golden>> = BTreeMap::new();
        let mut current: Option<String> = None;
        let board = session.board();
        session.install(slot, &files, &info, &check, "", "installing", |line| {
            if let Some(n) = line.strip_prefix("@selftest-failed ") {
                let mut it = n.split_whitespace();
                let name = it.next().unwrap_or("").to_string();
                let code = it.next().unwrap_or("?");
                outputs.insert(
                    name.clone(),
                    Err(BoardError::SelfTest {
                        board: board.clone(),
                        detail: format!(
                            "the runtime failed on {name}'s self-test input (exit {code})"
                        ),
                    }),
                );
            } else if let Some(n) = line.strip_prefix("@selftest ") {
                current = Some(n.trim().to_string());
            } else if line.starts_with('{') {
                if let Some(name) = current.take() {
                    let g = Golden::from_json(line).map_err(|e| BoardError::SelfTest {
                        board: board.clone(),
                        detail: format!("{name}: {e}"),
                    });
                    outputs.insert(name, g);
                    bar.inc(1);
                }
            }
        })?;
        bar.finish_and_clear();
        let mut worst = 0f64;
        let mut tested = 0;
        for md in &m.models {
            let Some(g) = &md.golden else { continue };
            let expected = Golden::from_json(&String::from_utf8_lossy(&img.files[&g.path]))
                .map_err(|e| BoardError::bad_input(&a.image, e))?;
            let got = match outputs.remove(&md.name) {
                Some(r) => r?,
                None => {
                    return Err(BoardError::SelfTest {
                        board: session.board(),
                        detail: format!("{} produced no output", md.name),
                    })
                }
            };
            match expected.check(&got, &m.selftest) {
                Ok(d) => worst = worst.max(d),
                Err(why) => {
                    return Err(BoardError::SelfTest {
                        board: session.board(),
                        detail: format!(
                            "model {} does not reproduce its expected output: {why}; the new slot {slot} was removed and the board stays on {}",
                            md.name,
                            match (&previous, &prev_version) {
                                (Some(p), Some(v)) => format!("slot {p} (version {v})"),
                                _ => "no version (nothing was installed before)".into(),
                            }
                        ),
                    })
                }
            }
            tested += 1;
        }
        progress.step(format!(
            "self-test passed ({tested} model(s), largest difference {worst:.2e}); switching to slot {slot}"
        ));
        let status = render_kv(&[
            ("op", "flash".into()),
            ("result", "ok".into()),
            ("slot", slot.to_string()),
            ("version", m.version.clone()),
            ("image_sha256", img.sha256.clone()),
            ("at", utc_now()),
            (
                "message",
                format!("flashed {} into slot {slot}; self-test passed", m.version),
            ),
        ]);
        session.switch(slot, previous.as_deref(), &status)?;
        Ok((stats, tested, worst))
    })();
    let (stats, tested, worst) = match outcome {
        Ok(x) => x,
        Err(e) => {
            session.record_failure("flash", &e, Some(slot), &extra);
            return Err(e);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if a.print.json {
        println!(
            "{}",
            serde_json::json!({
                "board": session.board(), "dir": session.dir, "slot": slot,
                "version": m.version, "image_sha256": img.sha256,
                "previous": previous.as_ref().map(|p| serde_json::json!({"slot": p, "version": prev_version})),
                "selftest": {"models": tested, "max_abs_difference": worst},
                "bytes_sent": stats.bytes_sent, "files_sent": stats.files_sent,
                "files_already_on_board": stats.files_already_there,
                "pieces_resumed": stats.pieces_resumed, "retries": stats.retries,
                "seconds": (secs * 1000.0).round() / 1000.0,
            })
        );
    } else {
        println!(
            "flashed {} (version {}) to {}:{} slot {slot}, now active, in {secs:.1} s",
            a.image.display(),
            m.version,
            session.board(),
            session.dir
        );
        println!(
            "  self-test passed on the board: {tested} model(s), largest difference {worst:.2e}"
        );
        println!(
            "  sent {}; {} of {} file(s) were already on the board{}",
            human_bytes(stats.bytes_sent),
            stats.files_already_there,
            files.len(),
            stats.resumed_note()
        );
        start.print_kept();
    }
    Ok(())
}
