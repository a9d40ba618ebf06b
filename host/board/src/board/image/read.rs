//! Reading an image back: the archive's structure, the manifest's own checksum, and every
//! member's size and sha256, so a damaged or foreign file is refused before it is used.
use super::super::error::{BoardError, Result};
use super::super::session::sha256_hex;
use super::super::{human_bytes, read_local};
use super::manifest::*;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) fn corrupt(path: &Path, what: impl std::fmt::Display) -> BoardError {
    BoardError::bad_input(
        path,
        format!("the image is corrupt or not a deepiot image: {what}; rebuild it with `deepiot image build`"),
    )
}

/// Reads an image and verifies its structure and every member's size and sha256.
pub fn read_image(path: &Path) -> Result<Image> {
    let meta = std::fs::metadata(path)
        .map_err(|e| BoardError::bad_input(path, format!("cannot read the image: {e}")))?;
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(corrupt(
            path,
            format!(
                "{} is larger than any image ({})",
                human_bytes(meta.len()),
                human_bytes(MAX_IMAGE_BYTES)
            ),
        ));
    }
    let bytes = read_local(path, "image")?;
    parse_image(&bytes).map_err(|m| corrupt(path, m))
}

/// Parses and verifies an image held in memory.
pub fn parse_image(bytes: &[u8]) -> std::result::Result<Image, String> {
    // Whole 512-byte tar blocks (a mask: `is_multiple_of` is newer than rust-version).
    if bytes.len() < 1024 || bytes.len() & 511 != 0 {
        return Err(format!("{} bytes is not a whole tar archive", bytes.len()));
    }
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut order = Vec::new();
    let mut ar = tar::Archive::new(bytes);
    let entries = ar
        .entries()
        .map_err(|e| format!("cannot read the archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("damaged archive: {e}"))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err("a member is not a regular file".into());
        }
        let path = entry
            .path()
            .map_err(|e| format!("bad member name: {e}"))?
            .to_string_lossy()
            .into_owned();
        if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(format!("unsafe member name {path:?}"));
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data)
            .map_err(|e| format!("cannot read {path}: {e}"))?;
        if files.insert(path.clone(), data).is_some() {
            return Err(format!("{path} appears twice"));
        }
        order.push(path);
    }
    if order.first().map(String::as_str) != Some(MANIFEST_PATH) {
        return Err(format!("the first member must be {MANIFEST_PATH}"));
    }
    if order.get(1).map(String::as_str) != Some(MANIFEST_SUM_PATH) {
        return Err(format!("the second member must be {MANIFEST_SUM_PATH}"));
    }
    let want = format!("{}  {MANIFEST_PATH}\n", sha256_hex(&files[MANIFEST_PATH]));
    if files[MANIFEST_SUM_PATH] != want.as_bytes() {
        return Err(format!(
            "{MANIFEST_PATH} does not match {MANIFEST_SUM_PATH} (the manifest is damaged)"
        ));
    }
    let manifest: Manifest = serde_json::from_slice(&files[MANIFEST_PATH])
        .map_err(|e| format!("{MANIFEST_PATH} is not a valid manifest: {e}"))?;
    if manifest.format != FORMAT {
        return Err(format!("format is {:?}, not {FORMAT:?}", manifest.format));
    }
    if manifest.format_version == 0 || manifest.format_version > FORMAT_VERSION {
        return Err(format!(
            "format version {} is not supported by this deepiot (reads up to {FORMAT_VERSION}); update deepiot",
            manifest.format_version
        ));
    }
    let mut listed = vec![MANIFEST_PATH.to_string(), MANIFEST_SUM_PATH.to_string()];
    let mut check = |e: &FileEntry| -> std::result::Result<(), String> {
        let data = files
            .get(&e.path)
            .ok_or_else(|| format!("{} is listed in the manifest but missing", e.path))?;
        if data.len() as u64 != e.bytes {
            return Err(format!(
                "{} has {} bytes, the manifest says {}",
                e.path,
                data.len(),
                e.bytes
            ));
        }
        let h = sha256_hex(data);
        if h != e.sha256 {
            return Err(format!(
                "{} has sha256 {h}, the manifest says {}",
                e.path, e.sha256
            ));
        }
        listed.push(e.path.clone());
        Ok(())
    };
    check(&manifest.runtime)?;
    for m in &manifest.models {
        super::super::check_name(&m.name)?;
        check(&m.file)?;
        for i in &m.inputs {
            check(i)?;
        }
        if let Some(g) = &m.golden {
            check(g)?;
            Golden::from_json(&String::from_utf8_lossy(&files[&g.path]))
                .map_err(|e| format!("{}: {e}", g.path))?;
        }
    }
    if let Some(extra) = order.iter().find(|p| !listed.contains(p)) {
        return Err(format!("{extra} is in the archive but not in the manifest"));
    }
    Ok(Image {
        manifest,
        files,
        sha256: sha256_hex(bytes),
        bytes: bytes.len() as u64,
    })
}
