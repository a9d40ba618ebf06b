//! Board descriptions: `targets/NAME.toml` (Rust triple, `uname -m` values, default ssh
//! address, install directory, memory).
use super::error::{BoardError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The Edison description as shipped, so an installed `deepiot` works outside the repo.
const BUILTIN_EDISON: &str = include_str!("../../../../targets/edison.toml");

/// One kind of board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    /// Rust target triple of the runtime, e.g. `i686-unknown-linux-musl`.
    pub triple: String,
    #[serde(default)]
    pub target_cpu: Option<String>,
    /// What `uname -m` may print on such a board.
    pub arch: Vec<String>,
    /// Default ssh address (`USER@HOST[:PORT]`).
    pub ssh: String,
    /// Where the runtime, models and slots live on the board.
    pub install_dir: String,
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub cores: Option<u32>,
    #[serde(default)]
    pub clock_mhz: Option<u32>,
    /// Watts drawn while one core runs inference, for the energy estimate (p50 x power):
    /// the paper measured energy, we have no meter, so the figure and its source are data.
    #[serde(default)]
    pub active_power_w: Option<f64>,
    /// Where `active_power_w` comes from, printed beside every estimate made with it.
    #[serde(default)]
    pub active_power_source: Option<String>,
}

impl Target {
    pub fn from_toml(text: &str, origin: &Path) -> Result<Target> {
        let t: Target = toml::from_str(text).map_err(|e| {
            BoardError::bad_input(origin, format!("not a valid target description: {e}"))
        })?;
        if t.arch.is_empty() {
            return Err(BoardError::bad_input(
                origin,
                "`arch` lists no architecture",
            ));
        }
        if let Some(w) = t.active_power_w {
            if !(w.is_finite() && w > 0.0) {
                return Err(BoardError::bad_input(
                    origin,
                    format!("`active_power_w` must be a positive number of watts, got {w}"),
                ));
            }
            if t.active_power_source
                .as_deref()
                .unwrap_or("")
                .trim()
                .is_empty()
            {
                return Err(BoardError::bad_input(
                    origin,
                    "`active_power_w` needs `active_power_source`: an estimate says where its figure comes from",
                ));
            }
        }
        if !t.install_dir.starts_with('/') {
            return Err(BoardError::bad_input(
                origin,
                format!(
                    "`install_dir` must be an absolute path, got {:?}",
                    t.install_dir
                ),
            ));
        }
        Ok(t)
    }

    /// What building its runtime needs: the triple and `-C target-cpu`.
    pub fn build_target(&self) -> crate::runtime_build::BuildTarget<'_> {
        crate::runtime_build::BuildTarget {
            triple: &self.triple,
            cpu: self.target_cpu.as_deref(),
        }
    }

    /// The estimate of energy per inference for a latency, when the power is known.
    pub fn energy(&self) -> Option<EnergyEstimate> {
        Some(EnergyEstimate {
            watts: self.active_power_w?,
            source: self.active_power_source.clone().unwrap_or_default(),
        })
    }

    /// The ELF `e_machine` a runtime for this target must have, when known.
    pub fn elf_machine(&self) -> Option<u16> {
        let cpu = self.triple.split('-').next().unwrap_or("");
        match cpu {
            "i386" | "i486" | "i586" | "i686" => Some(3),
            "x86_64" => Some(62),
            "aarch64" => Some(183),
            c if c.starts_with("arm") || c.starts_with("thumb") => Some(40),
            "riscv32" | "riscv64" | "riscv64gc" => Some(243),
            _ => None,
        }
    }
}

/// Energy per inference as latency times the board's active power: an estimate, since
/// it assumes the power stays the same for every model and ignores idle time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyEstimate {
    pub watts: f64,
    pub source: String,
}

impl EnergyEstimate {
    /// Microjoules for a latency in microseconds (µs x W = µJ).
    pub fn microjoules(&self, latency_us: f64) -> f64 {
        latency_us * self.watts
    }
}

/// Folders searched for `NAME.toml`, in order.
fn search_dirs(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = explicit {
        dirs.push(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("DEEPIOT_TARGETS_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(PathBuf::from("targets"));
    dirs.push(crate::runtime_build::workspace_root().join("targets"));
    dirs
}

/// Finds a target by name (`edison`) or by path (`boards/mine.toml`).
pub fn load(name_or_path: &str, targets_dir: Option<&Path>) -> Result<Target> {
    let as_path = Path::new(name_or_path);
    if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
        let text = std::fs::read_to_string(as_path)
            .map_err(|e| BoardError::bad_input(as_path, format!("cannot read: {e}")))?;
        return Target::from_toml(&text, as_path);
    }
    if name_or_path.is_empty()
        || !name_or_path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(BoardError::Usage(format!(
            "target name {name_or_path:?} is not a plain name (letters, digits, - and _)"
        )));
    }
    for dir in search_dirs(targets_dir) {
        let file = dir.join(format!("{name_or_path}.toml"));
        if file.is_file() {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| BoardError::bad_input(&file, format!("cannot read: {e}")))?;
            return Target::from_toml(&text, &file);
        }
    }
    if name_or_path == "edison" {
        return Target::from_toml(BUILTIN_EDISON, Path::new("<built-in edison.toml>"));
    }
    Err(BoardError::Usage(format!(
        "unknown target {name_or_path:?}: no {name_or_path}.toml in --targets-dir, $DEEPIOT_TARGETS_DIR, ./targets or {}",
        crate::runtime_build::workspace_root().join("targets").display()
    )))
}

/// Reads the ELF header of a runtime binary: `(is 32-bit, e_machine)`.
pub fn elf_header(bytes: &[u8]) -> Option<(bool, u16)> {
    if bytes.len() < 20 || &bytes[..4] != b"\x7fELF" {
        return None;
    }
    let class32 = bytes[4] == 1;
    let machine = match bytes[5] {
        1 => u16::from_le_bytes([bytes[18], bytes[19]]),
        _ => u16::from_be_bytes([bytes[18], bytes[19]]),
    };
    Some((class32, machine))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_edison_parses() {
        let t = Target::from_toml(BUILTIN_EDISON, Path::new("x")).unwrap();
        assert_eq!(t.name, "edison");
        assert_eq!(t.triple, "i686-unknown-linux-musl");
        assert!(t.arch.iter().any(|a| a == "i686"));
        assert_eq!(t.elf_machine(), Some(3));
    }

    #[test]
    fn bad_descriptions_are_refused() {
        assert!(Target::from_toml("name = 1", Path::new("x")).is_err());
        let no_arch = BUILTIN_EDISON.replace(
            "arch = [\"i686\", \"i586\", \"i386\", \"x86_64\"]",
            "arch = []",
        );
        assert!(Target::from_toml(&no_arch, Path::new("x")).is_err());
        assert!(load("../etc", None).is_err());
        for bad in ["0.0", "-1.0", "nan"] {
            let t =
                BUILTIN_EDISON.replace("active_power_w = 0.9", &format!("active_power_w = {bad}"));
            assert!(Target::from_toml(&t, Path::new("x")).is_err(), "{bad}");
        }
        let unsourced: String = BUILTIN_EDISON
            .lines()
            .filter(|l| !l.starts_with("active_power_source"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(Target::from_toml(&unsourced, Path::new("x")).is_err());
    }

    #[test]
    fn energy_is_latency_times_power() {
        let t = Target::from_toml(BUILTIN_EDISON, Path::new("x")).unwrap();
        let e = t.energy().unwrap();
        assert!(e.source.contains("scivision"));
        assert!((e.microjoules(100.0) - 100.0 * e.watts).abs() < 1e-9);
    }

    #[test]
    fn elf_header_of_small_buffers() {
        assert_eq!(elf_header(b"nope"), None);
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        h[5] = 1;
        h[18] = 3;
        assert_eq!(elf_header(&h), Some((true, 3)));
    }
}
