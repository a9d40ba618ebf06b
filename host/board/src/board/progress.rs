//! Progress for long steps: indicatif bars on a terminal, one line per step otherwise.
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Where step messages and bars go (always stderr: stdout is for results and JSON).
#[derive(Clone)]
pub struct Progress {
    bars: bool,
    quiet: bool,
    /// Prefix of every line, e.g. the board's name when several run at once.
    prefix: String,
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars when stderr is a terminal; `quiet` silences step lines too.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            bars: !quiet && std::io::stderr().is_terminal(),
            quiet,
            prefix: String::new(),
            multi: None,
        }
    }

    /// A progress for one of several boards handled at once.
    pub fn for_board(&self, name: &str, multi: &MultiProgress) -> Progress {
        Progress {
            bars: self.bars,
            quiet: self.quiet,
            prefix: format!("[{name}] "),
            multi: Some(multi.clone()),
        }
    }

    /// A step of the operation: a line on stderr (above any bar).
    pub fn step(&self, msg: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        let line = format!("{}{}", self.prefix, msg.as_ref());
        match &self.multi {
            Some(m) if self.bars => {
                let _ = m.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }

    fn add(&self, pb: ProgressBar) -> ProgressBar {
        if !self.bars {
            pb.set_draw_target(ProgressDrawTarget::hidden());
            return pb;
        }
        match &self.multi {
            Some(m) => m.add(pb),
            None => {
                pb.set_draw_target(ProgressDrawTarget::stderr());
                pb
            }
        }
    }

    /// A bar counting bytes.
    pub fn bytes(&self, total: u64, msg: &str) -> ProgressBar {
        let pb = self.add(ProgressBar::new(total));
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix}{msg:<22} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_prefix(self.prefix.clone());
        pb.set_message(msg.to_string());
        pb
    }

    /// A bar counting items (models, boards).
    pub fn count(&self, total: u64, msg: &str) -> ProgressBar {
        let pb = self.add(ProgressBar::new(total));
        pb.set_style(
            ProgressStyle::with_template("{prefix}{msg:<22} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(self.prefix.clone());
        pb.set_message(msg.to_string());
        pb
    }

    /// A spinner for a step of unknown length.
    pub fn spinner(&self, msg: &str) -> ProgressBar {
        let pb = self.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{prefix}{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_prefix(self.prefix.clone());
        pb.set_message(msg.to_string());
        if self.bars {
            pb.enable_steady_tick(Duration::from_millis(120));
        }
        pb
    }
}
