//! What an image holds: its manifest (the format of `docs/image-format.md`), the golden
//! self-test answers, and an image as read and verified.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `format` field of every manifest.
pub const FORMAT: &str = "deepiot-image";
/// The manifest layout this code writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The first member of the archive.
pub const MANIFEST_PATH: &str = "manifest.json";
/// The second member: `sha256sum` of the manifest (`HEX  manifest.json`), so damage to
/// the manifest itself is caught too.
pub const MANIFEST_SUM_PATH: &str = "manifest.sha256";
/// Largest image read (the board has 1 GB of RAM; images are runtime + models).
pub(super) const MAX_IMAGE_BYTES: u64 = 512 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The image's version label, shown by `board status`.
    pub version: String,
    pub target: ManifestTarget,
    pub runtime: FileEntry,
    pub models: Vec<ModelEntry>,
    /// Free-form settings for the application on the board (`--config KEY=VALUE`).
    pub config: BTreeMap<String, String>,
    pub selftest: SelfTestSettings,
    pub build: BuildInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTarget {
    pub name: String,
    pub triple: String,
    /// What `uname -m` may print on the board.
    pub arch: Vec<String>,
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub file: FileEntry,
    /// One raw little-endian f32 file per graph input, `examples` examples each.
    pub inputs: Vec<FileEntry>,
    /// Expected outputs for those inputs (`{"examples":[{"scores":[...]}]}`); none when
    /// built with `--no-selftest`.
    pub golden: Option<FileEntry>,
    pub examples: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfTestSettings {
    /// An output passes when |got - golden| <= atol + rtol * |golden|.
    pub atol: f64,
    pub rtol: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// `deepiot X.Y.Z`.
    pub tool: String,
    /// What the runtime says with `--version`, when it can run on the build machine.
    pub runtime_version: Option<String>,
    /// The build time, only when given through SOURCE_DATE_EPOCH.
    pub source_date_epoch: Option<u64>,
    /// The seed of the self-test inputs.
    pub selftest_seed: u64,
}

/// Expected outputs of one model on its self-test inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Golden {
    pub examples: Vec<GoldenExample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenExample {
    pub scores: Vec<Option<f32>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_outputs: Vec<Vec<Option<f32>>>,
}

impl Golden {
    /// Reads `deepiot-run --json` output (or a golden file: the same `examples` field).
    pub fn from_json(text: &str) -> std::result::Result<Golden, String> {
        #[derive(Deserialize)]
        struct Run {
            examples: Vec<GoldenExample>,
        }
        let r: Run =
            serde_json::from_str(text).map_err(|e| format!("not runtime JSON output: {e}"))?;
        Ok(Golden {
            examples: r.examples,
        })
    }

    /// Compares `got` with `self`; `Err` says where the first difference is.
    pub fn check(&self, got: &Golden, s: &SelfTestSettings) -> std::result::Result<f64, String> {
        if got.examples.len() != self.examples.len() {
            return Err(format!(
                "{} example(s) came out, {} expected",
                got.examples.len(),
                self.examples.len()
            ));
        }
        let mut worst = 0f64;
        for (e, (g, w)) in got.examples.iter().zip(&self.examples).enumerate() {
            let pairs = std::iter::once((&g.scores, &w.scores))
                .chain(g.other_outputs.iter().zip(&w.other_outputs));
            if g.other_outputs.len() != w.other_outputs.len() {
                return Err(format!("example {e}: a different number of outputs"));
            }
            for (o, (gv, wv)) in pairs.enumerate() {
                if gv.len() != wv.len() {
                    return Err(format!(
                        "example {e}, output {o}: {} values, {} expected",
                        gv.len(),
                        wv.len()
                    ));
                }
                for (k, (a, b)) in gv.iter().zip(wv).enumerate() {
                    let (Some(a), Some(b)) = (a, b) else {
                        if a.is_some() != b.is_some() {
                            return Err(format!(
                                "example {e}, output {o}, value {k}: NaN/inf on one side only"
                            ));
                        }
                        continue;
                    };
                    let (a, b) = (f64::from(*a), f64::from(*b));
                    let d = (a - b).abs();
                    worst = worst.max(d);
                    if d > s.atol + s.rtol * b.abs() {
                        return Err(format!(
                            "example {e}, output {o}, value {k}: got {a}, expected {b} (difference {d:.3e} > atol {} + rtol {} x |expected|)",
                            s.atol, s.rtol
                        ));
                    }
                }
            }
        }
        Ok(worst)
    }
}

/// A read and fully verified image.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Manifest,
    /// Every member by path, the manifest included.
    pub files: BTreeMap<String, Vec<u8>>,
    pub sha256: String,
    pub bytes: u64,
}
