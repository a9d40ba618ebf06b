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
