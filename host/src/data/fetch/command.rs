//! The command `deepiot data fetch [TASK...]`: its config, the run, the listing and the
//! progress on the terminal. (Its flags are `crate::cli::data`.)
use super::catalog::{self, DataSet, Origin};
use super::{
    fetch, select, status, FetchError, Options, Outcome, Progress, SetStatus, Source, MIRROR_ENV,
};
use crate::board::progress::Progress as Bars;
use crate::data::{user_data_dir, DataRoot};
use indicatif::{HumanBytes, ProgressBar};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `deepiot data fetch` downloads, from where, into which folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchConfig {
    /// Data sets to fetch, by task (mnist, har, har_cross_participant, userid, speech,
    /// cifar10) or folder name (casale-har, fsdd, cifar10-jpeg). Empty: all of them.
    pub tasks: Vec<String>,
    /// Base URL of a mirror laid out like a deepiot data root (else $DEEPIOT_DATA_MIRROR,
    /// else each data set's original source).
    pub mirror: Option<String>,
    /// The data root to fill (else the user's data folder, which the loaders search).
    pub dest: Option<PathBuf>,
    /// Only print the data sets, their files and whether they are present and verified.
    pub list: bool,
    /// Retries per file after the connection drops.
    pub retries: u32,
    /// Connect and read timeout in seconds (at least 1 is used).
    pub timeout: u64,
    /// No progress bars or step lines (errors and the summary still print).
    pub quiet: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            tasks: Vec::new(),
            mirror: None,
            dest: None,
            list: false,
            retries: 5,
            timeout: 30,
            quiet: false,
        }
    }
}

/// `deepiot data fetch`: fetches (or with `list`, lists) the data sets and prints a
/// summary.
pub fn run(args: &FetchConfig) -> Result<(), FetchError> {
    let catalog = catalog::builtin();
    let sets = select(&catalog, &args.tasks)?;
    let dest = match &args.dest {
        Some(d) => d.clone(),
        None => user_data_dir().ok_or_else(|| {
            FetchError::Usage(
                "no user data folder ($HOME is not set); pass --dest DIR or set \
                 DEEPIOT_USER_DATA"
                    .into(),
            )
        })?,
    };
    let mirror = args.mirror.clone().or_else(|| {
        std::env::var(MIRROR_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
    });
    let source = match &mirror {
        Some(url) => Source::mirror(url)?,
        None => Source::Originals,
    };
    if args.list {
        return list(&sets, &dest, &source);
    }
    let opts = Options {
        connect_timeout: Duration::from_secs(args.timeout.max(1)),
        read_timeout: Duration::from_secs(args.timeout.max(1)),
        retries: args.retries,
        ..Options::default()
    };
    let progress = Terminal::new(args.quiet);
    match &source {
        Source::Mirror(url) => {
            progress.note(&format!("fetching into {} from {url}", dest.display()))
        }
        Source::Originals => progress.note(&format!(
            "fetching into {} from the original sources",
            dest.display()
        )),
    }
    let report = fetch(&sets, &dest, &source, &opts, &progress)?;
    print(&format!(
        "{} files present and verified in {} ({} downloaded, {} received)\n",
        report.files.len(),
        dest.display(),
        report.downloaded(),
        HumanBytes(report.received())
    ));
    if report
        .files
        .iter()
        .any(|f| matches!(f.outcome, Outcome::Downloaded { resumed: true, .. }))
    {
        print("(some downloads were resumed after a cut; all were verified)\n");
    }
    hint_if_not_searched(&dest);
    Ok(())
}

/// Tells the user how to make the loaders read `dest` when they would not by default.
fn hint_if_not_searched(dest: &Path) {
    let same = |a: &Path| match (a.canonicalize(), dest.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match DataRoot::resolve(None) {
        Ok(root) if same(&root.path) => {}
        _ => {
            print(&format!(
                "note: the loaders do not search {} by default; pass --data {0} or set \
                 DEEPIOT_DATA={0}\n",
                dest.display()
            ));
        }
    }
}

/// `--list`: one block per data set, each printed as soon as its files are checked.
fn list(sets: &[DataSet], dest: &Path, source: &Source) -> Result<(), FetchError> {
    if !print(&format!("destination: {}\n", dest.display())) {
        return Ok(());
    }
    for set in sets {
        let state = match status(set, dest)? {
            SetStatus::Verified => "present, verified".to_string(),
            SetStatus::Missing => "not present".to_string(),
            SetStatus::Partial { present, total } => {
                format!("{present} of {total} files present (verified)")
            }
            SetStatus::Corrupt { path, problem } => {
                format!("{path} does not verify ({problem}); fetch again to replace it")
            }
        };
        let mut block = format!(
            "\n{}  (tasks: {})\n  {}\n  {} files, {} of content (sizes below are \
             uncompressed for .gz)\n",
            set.name,
            set.tasks.join(", "),
            set.title,
            set.files.len(),
            HumanBytes(set.content_size())
        );
        for f in &set.files {
            block.push_str(&format!(
                "    {:<36} {:>10}  sha256 {}\n",
                f.path,
                HumanBytes(f.size).to_string(),
                f.sha256
            ));
        }
        block.push_str(&match &set.origin {
            Origin::Direct { base, home } => {
                format!("  origin: {home} (downloaded from {base})\n")
            }
            Origin::Repackaged { url, .. } => {
                format!("  origin: {url} (packaged differently: needs a mirror)\n")
            }
        });
        if let (Source::Mirror(_), Some(f)) = (source, set.files.first()) {
            let url = source.url(set, f).unwrap_or_default();
            block.push_str(&format!("  mirror: {url}\n"));
        }
        block.push_str(&format!("  status: {state}\n"));
        if !print(&block) {
            return Ok(());
        }
    }
    Ok(())
}

/// Writes to stdout; false when stdout is gone (`| head`), which ends the listing
/// quietly instead of panicking like `print!`.
fn print(text: &str) -> bool {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// Progress on stderr: a byte bar with rate on a terminal, step lines otherwise.
struct Terminal {
    bars: Bars,
    quiet: bool,
    bar: RefCell<Option<ProgressBar>>,
}

impl Terminal {
    fn new(quiet: bool) -> Self {
        Terminal {
            bars: Bars::new(quiet),
            quiet,
            bar: RefCell::new(None),
        }
    }
}

impl Progress for Terminal {
    fn note(&self, line: &str) {
        if self.quiet {
            return;
        }
        match self.bar.borrow().as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn start(&self, path: &str, done: u64, total: Option<u64>) {
        let name = path.rsplit('/').next().unwrap_or(path);
        let bar = match total {
            Some(t) => self.bars.bytes(t, name),
            None => self.bars.spinner(name),
        };
        bar.set_position(done);
        bar.reset_eta();
        *self.bar.borrow_mut() = Some(bar);
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}
