//! Where deepiot keeps things between runs on the user's machine.
use std::path::PathBuf;

/// The per-user cache folder deepiot writes under: `$XDG_CACHE_HOME/deepiot`, else
/// `~/.cache/deepiot`. `None` when the environment names no home.
pub fn cache_home() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let cache = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))?;
    Some(cache.join("deepiot"))
}

/// Writes `bytes` to `dest` through a temporary name in the same folder, so a reader
/// never sees half a file.
pub fn write_atomic(dest: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = dest.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
