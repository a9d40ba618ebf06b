//! What a board says about itself: the `KEY=VALUE` lines its side prints, the state a
//! `probe` finds (architecture, free space, slots, the active one), and the UTC times
//! written into slot records.
use std::collections::{BTreeMap, BTreeSet};

/// A slot as the board describes it.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    pub info: BTreeMap<String, String>,
    /// `(sha256, path)` of every file.
    pub sums: Vec<(String, String)>,
}

/// What `probe` found on the board.
#[derive(Debug, Clone, Default)]
pub struct BoardState {
    pub arch: String,
    pub avail_bytes: Option<u64>,
    pub mount: Option<String>,
    pub active: Option<String>,
    pub slots: BTreeMap<String, Slot>,
    /// Names under staging: `SHA` (a whole verified file) or `SHA.c/NNNNN` (a piece).
    pub staged: BTreeSet<String>,
    pub status: Option<BTreeMap<String, String>>,
    /// The install directory does not exist (only when just looking).
    pub no_dir: bool,
    /// Commands the board-side scripts need that the board does not have.
    pub missing_tools: Vec<String>,
    /// What this session found and settled: a switch an earlier session left unchecked
    /// (`remote::SETTLE`).
    pub settled: Option<String>,
}

impl BoardState {
    /// The slot a new install goes to: the one that is not active.
    pub fn inactive_slot(&self) -> &'static str {
        match self.active.as_deref() {
            Some("a") => "b",
            _ => "a",
        }
    }

    pub fn active_slot(&self) -> Option<&Slot> {
        self.active.as_ref().and_then(|a| self.slots.get(a))
    }

    /// Where a file with this sha256 already is on the board, relative to the install
    /// directory, if anywhere.
    pub fn find(&self, sha: &str) -> Option<String> {
        if self.staged.contains(sha) {
            return Some(format!("staging/{sha}"));
        }
        let active = self.active.as_ref()?;
        let slot = self.slots.get(active)?;
        slot.sums
            .iter()
            .find(|(s, _)| s == sha)
            .map(|(_, p)| format!("slots/{active}/{p}"))
    }
}

/// Parses `key=value` lines.
pub fn parse_kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Renders `key=value` lines; values are kept on one line.
pub fn render_kv(pairs: &[(&str, String)]) -> String {
    let mut s = String::new();
    for (k, v) in pairs {
        let v: String = v
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        s.push_str(&format!("{k}={v}\n"));
    }
    s
}

/// Parses the probe's output.
pub fn parse_probe(out: &str) -> BoardState {
    let mut st = BoardState::default();
    let mut section: Option<(String, Vec<String>)> = None;
    for line in out.lines() {
        if let Some((name, body)) = section.as_mut() {
            if line == "@end" {
                let text = body.join("\n");
                let name = std::mem::take(name);
                section = None;
                if name == "df" {
                    let toks: Vec<&str> = text
                        .lines()
                        .skip(1)
                        .flat_map(str::split_whitespace)
                        .collect();
                    if toks.len() >= 6 {
                        st.avail_bytes = toks[toks.len() - 3]
                            .parse::<u64>()
                            .ok()
                            .and_then(|k| k.checked_mul(1024));
                        st.mount = toks.last().map(|s| s.to_string());
                    }
                } else if name == "status" {
                    st.status = Some(parse_kv(&text));
                } else if let Some(s) = name.strip_prefix("info ") {
                    st.slots.entry(s.to_string()).or_default().info = parse_kv(&text);
                } else if let Some(s) = name.strip_prefix("sums ") {
                    st.slots.entry(s.to_string()).or_default().sums = text
                        .lines()
                        .filter_map(|l| {
                            let (h, p) = l.split_once(char::is_whitespace)?;
                            Some((h.to_string(), p.trim_start_matches([' ', '*']).to_string()))
                        })
                        .collect();
                }
            } else {
                body.push(line.to_string());
            }
            continue;
        }
        if let Some(a) = line.strip_prefix("@arch ") {
            st.arch = a.trim().to_string();
        } else if let Some(a) = line.strip_prefix("@active") {
            let a = a.trim();
            st.active = (!a.is_empty()).then(|| a.to_string());
        } else if let Some(t) = line.strip_prefix("@missing ") {
            st.missing_tools.push(t.trim().to_string());
        } else if line == "@nodir" {
            st.no_dir = true;
        } else if let Some(s) = line.strip_prefix("@settled ") {
            st.settled = Some(s.trim().to_string());
        } else if let Some(s) = line.strip_prefix("@staged ") {
            st.staged.insert(s.trim().to_string());
        } else if line == "@df" || line == "@status" {
            section = Some((line[1..].to_string(), Vec::new()));
        } else if let Some(s) = line.strip_prefix("@info ") {
            section = Some((format!("info {s}"), Vec::new()));
        } else if let Some(s) = line.strip_prefix("@sums ") {
            section = Some((format!("sums {s}"), Vec::new()));
        }
    }
    st
}

/// UTC time as `YYYY-MM-DDTHH:MM:SSZ` (for the board's status only, never in images).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_text(secs)
}

pub fn utc_text(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
