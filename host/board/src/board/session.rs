//! The host's side of talking to one board: look at it, send files (verified, resumable),
//! build a slot, switch to it, record the result. `deploy`, `flash` and `bench` are
//! sequences of these steps; the board-side commands are in `remote.rs`.
pub use super::board_state::{
    parse_kv, parse_probe, render_kv, utc_now, utc_text, BoardState, Slot,
};
use super::error::{BoardError, Result};
use super::progress::Progress;
use super::remote::{self, render};
use super::ssh::{quote, Output, Ssh};
use super::target::Target;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::time::Duration;

/// Hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A file to put into a slot.
#[derive(Debug, Clone)]
pub struct Payload {
    /// Path inside the slot, e.g. `models/lenet.safetensors`.
    pub path: String,
    pub data: Vec<u8>,
    pub sha256: String,
    pub executable: bool,
}

impl Payload {
    pub fn new(path: impl Into<String>, data: Vec<u8>, executable: bool) -> Payload {
        let sha256 = sha256_hex(&data);
        Payload {
            path: path.into(),
            data,
            sha256,
            executable,
        }
    }
}

/// Transfer settings.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// Files larger than this go in pieces of this size, each verified and kept.
    pub chunk_size: usize,
    /// How often a piece is sent again after it arrived corrupted or the connection
    /// dropped.
    pub retries: u32,
    /// Pause before a retry.
    pub retry_pause: Duration,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            chunk_size: 1 << 20,
            retries: 2,
            retry_pause: Duration::from_millis(500),
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, Default)]
pub struct UploadStats {
    pub files_sent: usize,
    pub files_already_there: usize,
    pub bytes_sent: u64,
    pub pieces_resumed: usize,
    pub retries: u32,
}

impl UploadStats {
    /// `", N piece(s) resumed"` when the upload resumed any, else nothing.
    pub fn resumed_note(&self) -> String {
        if self.pieces_resumed > 0 {
            format!(", {} piece(s) resumed", self.pieces_resumed)
        } else {
            String::new()
        }
    }
}

/// The board as an install into its inactive slot finds it (`Session::probe_install`).
pub struct InstallStart {
    pub state: BoardState,
    /// The slot the install goes into.
    pub slot: &'static str,
    /// The active slot, which the install keeps, and its version.
    pub previous: Option<String>,
    pub prev_version: Option<String>,
}

impl InstallStart {
    /// Prints which version the install kept and where (or that there was none).
    pub fn print_kept(&self) {
        match (&self.previous, &self.prev_version) {
            (Some(p), Some(v)) => println!("  previous version {v} kept in slot {p}"),
            _ => println!("  (first install on this board: no previous version)"),
        }
    }
}

/// The `installed_by` (and image `tool`) record: this deepiot and its version.
pub fn installed_by() -> String {
    format!("deepiot {}", env!("CARGO_PKG_VERSION"))
}

/// One board, reached over ssh, with its target description and install directory.
pub struct Session {
    pub ssh: Ssh,
    pub dir: String,
    pub target: Target,
    pub progress: Progress,
    pub transfer: Transfer,
}

impl Session {
    pub fn board(&self) -> String {
        self.ssh.name()
    }

    fn script(&self, template: &str, vars: &[(&str, &str)]) -> String {
        let mut all = vec![("D", self.dir.as_str())];
        all.extend_from_slice(vars);
        render(template, &all)
    }

    /// Looks at the board and checks its architecture. With `prepare`, readies the
    /// inactive slot's place (see `remote::PROBE`) for files with the sha256s in `want`.
    pub fn probe(&self, prepare: bool, want: &[&str]) -> Result<BoardState> {
        let (st, out) = self.probe_script(false, prepare, want)?;
        if !self.target.arch.iter().any(|a| a == &st.arch) {
            return Err(BoardError::WrongArch {
                board: self.board(),
                found: st.arch.clone(),
                target: self.target.name.clone(),
                expected: self.target.arch.join(", "),
            });
        }
        if !st.missing_tools.is_empty() {
            return Err(BoardError::BoardCommand {
                board: self.board(),
                detail: format!(
                    "the board lacks {} (deepiot needs POSIX sh with cat, mv, ln, rm, mkdir, chmod, sha256sum and df; busybox has them all)",
                    st.missing_tools.join(", ")
                ),
            });
        }
        if !out.ok() {
            return Err(self.script_error(&out, "preparing the install directory"));
        }
        Ok(st)
    }

    /// [`Session::probe`] readying the inactive slot for `files`, with the slot to
    /// install into and the active one (kept) and its version.
    pub fn probe_install(&self, files: &[&Payload]) -> Result<InstallStart> {
        let want: Vec<&str> = files.iter().map(|p| p.sha256.as_str()).collect();
        let state = self.probe(true, &want)?;
        Ok(InstallStart {
            slot: state.inactive_slot(),
            previous: state.active.clone(),
            prev_version: state
                .active_slot()
                .and_then(|s| s.info.get("version").cloned()),
            state,
        })
    }

    /// Only looks: no architecture check, nothing created.
    pub fn look(&self) -> Result<BoardState> {
        Ok(self.probe_script(true, false, &[])?.0)
    }

    fn probe_script(
        &self,
        look: bool,
        prepare: bool,
        want: &[&str],
    ) -> Result<(BoardState, Output)> {
        let arches = self.target.arch.join(" ");
        let want = want.join(" ");
        let probe = remote::PROBE.replace("@@SETTLE@@", remote::SETTLE);
        let script = self.script(
            &probe,
            &[
                ("ARCHES", &arches),
                ("LOOK", if look { "1" } else { "0" }),
                ("PREPARE", if prepare { "1" } else { "0" }),
                ("WANT", &want),
            ],
        );
        let out = self.ssh.run(&script, "looking at the board")?;
        let st = parse_probe(&out.stdout);
        if let Some(what) = &st.settled {
            eprintln!("{}: {what}", self.board());
        }
        if st.arch.is_empty() {
            return Err(self.script_error(&out, "looking at the board"));
        }
        Ok((st, out))
    }

    /// Refuses early when the files that still have to be sent do not fit.
    pub fn check_space(&self, st: &BoardState, files: &[&Payload]) -> Result<()> {
        let Some(avail) = st.avail_bytes else {
            return Ok(());
        };
        let missing: Vec<&&Payload> = files
            .iter()
            .filter(|p| !st.staged.contains(&p.sha256))
            .collect();
        let unsent: u64 = missing.iter().map(|p| p.data.len() as u64).sum();
        // Large files are sent in pieces and joined: both exist for a moment.
        let join: u64 = missing
            .iter()
            .filter(|p| p.data.len() > self.transfer.chunk_size)
            .map(|p| p.data.len() as u64)
            .max()
            .unwrap_or(0);
        let need = unsent + join + 8 * 1024 * (files.len() as u64 + 4);
        if need > avail {
            return Err(BoardError::DiskFull {
                board: self.board(),
                detail: format!(
                    "this needs about {} KiB on the board but {} has {} KiB free; nothing was changed, the board stays on its current version. Free space there or choose another --dir",
                    need.div_ceil(1024),
                    st.mount.as_deref().unwrap_or(&self.dir),
                    avail / 1024
                ),
            });
        }
        Ok(())
    }

    /// Sends every file the board does not have yet into staging, verified piece by
    /// piece. Pieces already on the board (from a cut transfer) are not sent again.
    pub fn upload(&self, st: &BoardState, files: &[&Payload]) -> Result<UploadStats> {
        let mut stats = UploadStats::default();
        let chunk = self.transfer.chunk_size.max(1);
        // (file, piece index or None for a whole file, range, join the pieces after it)
        let mut work: Vec<(&Payload, Option<usize>, std::ops::Range<usize>, bool)> = Vec::new();
        // Files whose pieces are all on the board already but not joined yet.
        let mut join_only: Vec<&Payload> = Vec::new();
        let mut seen = BTreeSet::new();
        for p in files {
            if st.staged.contains(&p.sha256) || !seen.insert(p.sha256.clone()) {
                stats.files_already_there += 1;
                continue;
            }
            stats.files_sent += 1;
            if p.data.len() <= chunk {
                work.push((p, None, 0..p.data.len(), false));
                continue;
            }
            let n = p.data.len().div_ceil(chunk);
            let mut resumed = 0;
            let before = work.len();
            for i in 0..n {
                if st.staged.contains(&format!("{}.c/{i:05}", p.sha256)) {
                    resumed += 1;
                    continue;
                }
                work.push((
                    p,
                    Some(i),
                    i * chunk..((i + 1) * chunk).min(p.data.len()),
                    false,
                ));
            }
            match work.len() > before {
                true => {
                    if let Some(last) = work.last_mut() {
                        last.3 = true;
                    }
                }
                false => join_only.push(p),
            }
            if resumed > 0 {
                self.progress.step(format!(
                    "resuming {}: {resumed} of {n} pieces are already on the board",
                    p.path
                ));
                stats.pieces_resumed += resumed;
            }
        }
        for p in join_only {
            let script = self.script(remote::JOIN, &[("F", &p.sha256)]);
            let step = format!("joining the pieces of {}", p.path);
            let out = self.ssh.run(&script, &step)?;
            if !out.ok() {
                return Err(self.script_error(&out, &step));
            }
        }
        let total: u64 = work.iter().map(|(_, _, r, _)| r.len() as u64).sum();
        if work.is_empty() {
            return Ok(stats);
        }
        self.progress.step(format!(
            "sending {} in {} piece(s); {} file(s) already on the board",
            super::human_bytes(total),
            work.len(),
            stats.files_already_there
        ));
        let bar = self.progress.bytes(total, "sending");
        let mut done = 0u64;
        for (p, piece, range, join) in work {
            let data = &p.data[range];
            let (name, sha, what) = match piece {
                None => (p.sha256.clone(), p.sha256.clone(), p.path.clone()),
                Some(i) => (
                    format!("{}.c/{i:05}", p.sha256),
                    sha256_hex(data),
                    format!("{} (piece {})", p.path, i + 1),
                ),
            };
            let template = if join {
                format!("{}{}", remote::UPLOAD, remote::JOIN)
            } else {
                remote::UPLOAD.to_string()
            };
            let script = self.script(&template, &[("P", &name), ("H", &sha), ("F", &p.sha256)]);
            let step = format!("sending {what}");
            let mut attempt = 0;
            loop {
                bar.set_position(done);
                let r = self
                    .ssh
                    .upload(&script, data, &step, |n| bar.inc(n))
                    .and_then(|out| {
                        if out.ok() {
                            Ok(())
                        } else {
                            Err(self.script_error(&out, &step))
                        }
                    });
                match r {
                    Ok(()) => break,
                    Err(
                        e
                        @ (BoardError::CorruptTransfer { .. } | BoardError::ConnectionLost { .. }),
                    ) if attempt < self.transfer.retries => {
                        attempt += 1;
                        stats.retries += 1;
                        bar.suspend(|| {
                            self.progress.step(format!(
                                "{e}\n  retrying ({attempt} of {})",
                                self.transfer.retries
                            ))
                        });
                        std::thread::sleep(self.transfer.retry_pause);
                    }
                    Err(BoardError::CorruptTransfer { board, detail, .. }) => {
                        bar.abandon();
                        return Err(BoardError::CorruptTransfer {
                            board,
                            what: what.clone(),
                            detail: format!(
                                "{detail}; sent {} time(s), every copy was damaged on the way; the piece was thrown away and the board is unchanged",
                                attempt + 1
                            ),
                        });
                    }
                    Err(BoardError::ConnectionLost {
                        board,
                        during,
                        detail,
                    }) => {
                        bar.abandon();
                        return Err(BoardError::ConnectionLost {
                            board,
                            during,
                            detail: format!(
                                "{detail}; the board is unchanged and the pieces that arrived are kept: run the same command again to resume"
                            ),
                        });
                    }
                    Err(e) => {
                        bar.abandon();
                        return Err(e);
                    }
                }
            }
            done += data.len() as u64;
            stats.bytes_sent += data.len() as u64;
        }
        bar.finish_and_clear();
        Ok(stats)
    }

    /// Builds slot `slot` from the staged files, verifies it, runs `check` (shell lines,
    /// with `$R` the new runtime and `$S` the slot), then `after` (shell lines).
    #[allow(clippy::too_many_arguments)]
    pub fn install(
        &self,
        slot: &str,
        files: &[&Payload],
        info: &str,
        check: &str,
        after: &str,
        step: &str,
        on_line: impl FnMut(&str),
    ) -> Result<Output> {
        let mut place = String::new();
        let mut sums = String::new();
        for p in files {
            place.push_str(&format!(
                "place {} {} {}\n",
                p.sha256,
                if p.executable { "x" } else { "-" },
                quote(&p.path)
            ));
            sums.push_str(&format!("{}  {}\n", p.sha256, p.path));
        }
        let body = remote::INSTALL
            .replace("@@PLACE@@", place.trim_end())
            .replace("@@SUMS@@", sums.trim_end())
            .replace("@@INFO@@", &remote::heredoc_safe(info.trim_end()))
            .replace("@@CHECK@@", check.trim_end())
            .replace("@@AFTER@@", after.trim_end());
        let script = self.script(&body, &[("S", slot)]);
        let out = self.ssh.run_streaming(&script, step, on_line)?;
        if !out.ok() {
            return Err(self.script_error(&out, step));
        }
        Ok(out)
    }

    /// The shell lines that switch to `slot` (falling back to `prev`) and record `status`.
    pub fn switch_lines(&self, slot: &str, prev: Option<&str>, status: &str) -> String {
        let body = remote::SWITCH.replace("@@STATUS@@", &remote::heredoc_safe(status.trim_end()));
        // Runs inside the install script or on its own; its variables come first.
        format!(
            "S={}\nPREV={}\n{body}",
            quote(slot),
            quote(prev.unwrap_or(""))
        )
    }

    /// Switches the active pointer on its own (after a host-side check).
    pub fn switch(&self, slot: &str, prev: Option<&str>, status: &str) -> Result<()> {
        let script = self.script(&self.switch_lines(slot, prev, status), &[]);
        let out = self.ssh.run(&script, "switching to the new slot")?;
        if !out.ok() {
            return Err(self.script_error(&out, "switching to the new slot"));
        }
        Ok(())
    }

    /// Records a failed operation on the board (best effort: the board may be the
    /// problem) and removes the half-made slot `drop`.
    pub fn record_failure(
        &self,
        op: &str,
        err: &BoardError,
        drop: Option<&str>,
        extra: &[(&str, String)],
    ) {
        if err.is_connection_problem() || matches!(err, BoardError::WrongArch { .. }) {
            return;
        }
        let mut pairs = vec![
            ("op", op.to_string()),
            ("result", "failed".to_string()),
            ("error", err.kind().to_string()),
            ("exit_code", err.exit_code().to_string()),
            ("message", err.to_string()),
            ("at", utc_now()),
        ];
        pairs.extend(extra.iter().cloned());
        let status = render_kv(&pairs);
        let body = remote::FAILED
            .replace("@@SETTLE@@", remote::SETTLE)
            .replace("@@STATUS@@", &remote::heredoc_safe(status.trim_end()));
        let script = self.script(&body, &[("DROP", drop.unwrap_or(""))]);
        let Ok(out) = self.ssh.run(&script, "recording the failure") else {
            return;
        };
        // Say where the board stands: the user's next step depends on it.
        let board = self.board();
        let line = |tag: &str| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(tag))
                .map(str::trim)
        };
        if out.stdout.lines().any(|l| l == "@completed") {
            eprintln!(
                "{board}: the {op} had finished on the board, checked, before the session ended"
            );
        } else if let Some(what) = line("@settled ") {
            eprintln!("{board}: {what}");
        }
        match line("@active_after ") {
            Some(a) if !a.is_empty() => eprintln!("{board}: slot {a} is active"),
            Some(_) => eprintln!("{board}: no slot is active"),
            None => {}
        }
    }

    /// Maps a board script's non-zero exit to an error.
    pub fn script_error(&self, out: &Output, step: &str) -> BoardError {
        let board = self.board();
        let said = out
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.ends_with(": OK"))
            .collect::<Vec<_>>()
            .join("; ");
        let said = if said.is_empty() {
            format!("exit status {}", out.code)
        } else {
            said
        };
        let low = out.stderr.to_lowercase();
        if low.contains("no space left")
            || low.contains("disk quota")
            || low.contains("quota exceeded")
        {
            return BoardError::DiskFull {
                board,
                detail: format!(
                    "{said} (while {step}); the partial files were removed and the board stays on its current version. Free space on the board or choose another --dir"
                ),
            };
        }
        match out.code {
            remote::EXIT_MISMATCH => BoardError::CorruptTransfer {
                board,
                what: step.trim_start_matches("sending ").to_string(),
                detail: said,
            },
            remote::EXIT_SMOKE | remote::EXIT_ROLLED_BACK => BoardError::SelfTest {
                board,
                detail: format!("{said}; the board stays on its previous version"),
            },
            remote::EXIT_WRITE => BoardError::BoardCommand {
                board,
                detail: format!("cannot write under {} while {step}: {said}", self.dir),
            },
            _ => BoardError::BoardCommand {
                board,
                detail: format!("while {step}: {said}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_is_parsed() {
        let out = "@arch i686\n@missing df\n@active a\n@df\nFilesystem 1024-blocks Used Available Capacity Mounted on\ntmpfs 1024 100 924 10% /tmp/x\n@end\n@info a\nversion=v1\nslot=a\n@end\n@sums a\nabc  deepiot-run\ndef  models/m.safetensors\n@end\n@staged 0123\n@staged 4567.c/00001\n@status\nop=deploy\nresult=ok\n@end\n";
        let st = parse_probe(out);
        assert_eq!(st.arch, "i686");
        assert_eq!(st.missing_tools, ["df"]);
        assert_eq!(st.active.as_deref(), Some("a"));
        assert_eq!(st.avail_bytes, Some(924 * 1024));
        assert_eq!(st.mount.as_deref(), Some("/tmp/x"));
        assert_eq!(st.slots["a"].info["version"], "v1");
        assert_eq!(
            st.slots["a"].sums[1],
            ("def".into(), "models/m.safetensors".into())
        );
        assert!(st.staged.contains("4567.c/00001"));
        assert_eq!(st.status.as_ref().unwrap()["result"], "ok");
        assert_eq!(st.inactive_slot(), "b");
        let st = parse_probe("@arch x86_64\n@active\n");
        assert_eq!(st.active, None);
    }

    #[test]
    fn dates() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn hashes() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
