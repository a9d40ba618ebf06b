//! Firmware images: `deepiot image build` and `deepiot image inspect` (the commands are
//! in `command.rs`; this module builds an image in memory, `read.rs` reads one back).
//!
//! An image is a POSIX ustar archive (so `tar tvf sensor.img` lists it) whose first
//! member is `manifest.json`; the format is specified in `docs/image-format.md`. The
//! same inputs give the same bytes: members are in a fixed order with fixed owners,
//! modes and times (`SOURCE_DATE_EPOCH` or 0), and the manifest holds no time, host or
//! user unless `SOURCE_DATE_EPOCH` is set.
use super::error::{BoardError, Result};
use super::session::sha256_hex;
use super::target;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod command;
mod manifest;
mod read;

pub use command::{describe, run_build, run_inspect, ImageBuildConfig, ImageInspectConfig};
pub use manifest::*;
pub use read::{parse_image, read_image};

/// Deterministic self-test values in [-1, 1): the inputs `deepiot-run bench` draws from
/// the same seed ([`deepiot_format::rng::fill_symmetric`], one generator for both).
pub fn selftest_values(seed: u64, n: usize) -> Vec<f32> {
    let mut v = vec![0.0; n];
    deepiot_format::rng::fill_symmetric(seed, &mut v);
    v
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("deepiot-image-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)
            .map_err(|e| BoardError::Other(format!("cannot create {}: {e}", p.display())))?;
        Ok(Scratch(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What goes into an image.
pub struct BuildSpec<'a> {
    pub target: &'a target::Target,
    pub runtime: Vec<u8>,
    /// Path of the runtime on this machine, to compute golden outputs with.
    pub runtime_path: Option<&'a Path>,
    /// (name, model bytes).
    pub models: Vec<(String, Vec<u8>)>,
    pub version: Option<String>,
    pub config: BTreeMap<String, String>,
    pub examples: u32,
    pub seed: u64,
    /// Given expected outputs by model name.
    pub golden: BTreeMap<String, Golden>,
    pub settings: SelfTestSettings,
    pub selftest: bool,
    pub source_date_epoch: Option<u64>,
}

/// Builds an image in memory.
pub fn build(spec: &BuildSpec) -> Result<Vec<u8>> {
    let scratch = Scratch::new()?;
    let runtime_version = spec.runtime_path.and_then(|p| {
        let out = Command::new(p).arg("--version").output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    let mut members: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let entry = |path: &str, data: &[u8]| FileEntry {
        path: path.to_string(),
        bytes: data.len() as u64,
        sha256: sha256_hex(data),
    };
    let runtime_entry = entry("deepiot-run", &spec.runtime);
    members.push(("deepiot-run".into(), spec.runtime.clone(), 0o755));
    let mut models = Vec::new();
    for (mi, (name, bytes)) in spec.models.iter().enumerate() {
        let path = format!("models/{name}.safetensors");
        let file = entry(&path, bytes);
        members.push((path.clone(), bytes.clone(), 0o644));
        let mut inputs = Vec::new();
        let mut golden = None;
        if spec.selftest {
            let parsed = deepiot_format::parse(bytes)
                .map_err(|e| BoardError::bad_input(&path, format!("not a usable model: {e}")))?;
            let mut local_inputs = Vec::new();
            for (k, input) in parsed.graph.inputs.iter().enumerate() {
                let len: usize = input.shape.iter().product();
                let seed = spec
                    .seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add((mi as u64) << 8 | k as u64);
                let values = selftest_values(seed, len * spec.examples as usize);
                let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                let ipath = format!("selftest/{name}.in{k}.f32");
                let local = scratch.0.join(format!("{name}.in{k}.f32"));
                std::fs::write(&local, &data).map_err(|e| {
                    BoardError::Other(format!("cannot write {}: {e}", local.display()))
                })?;
                local_inputs.push(local);
                inputs.push(entry(&ipath, &data));
                members.push((ipath, data, 0o644));
            }
            let g = match spec.golden.get(name) {
                Some(g) => g.clone(),
                None => compute_golden(spec, &scratch, name, bytes, &local_inputs)?,
            };
            if g.examples.len() != spec.examples as usize {
                return Err(BoardError::Usage(format!(
                    "the expected outputs of {name} hold {} example(s) but the image has {} (--selftest-examples)",
                    g.examples.len(),
                    spec.examples
                )));
            }
            let gtext = serde_json::to_vec(&g)
                .map_err(|e| BoardError::Other(format!("cannot write golden outputs: {e}")))?;
            let gpath = format!("selftest/{name}.golden.json");
            golden = Some(entry(&gpath, &gtext));
            members.push((gpath, gtext, 0o644));
        }
        models.push(ModelEntry {
            name: name.clone(),
            file,
            inputs,
            golden,
            examples: if spec.selftest { spec.examples } else { 0 },
        });
    }
    let version = spec.version.clone().unwrap_or_else(|| {
        let all: String = members
            .iter()
            .map(|(p, d, _)| format!("{} {p}\n", sha256_hex(d)))
            .collect();
        sha256_hex(all.as_bytes())[..12].to_string()
    });
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        version,
        target: ManifestTarget {
            name: spec.target.name.clone(),
            triple: spec.target.triple.clone(),
            arch: spec.target.arch.clone(),
        },
        runtime: runtime_entry,
        models,
        config: spec.config.clone(),
        selftest: spec.settings.clone(),
        build: BuildInfo {
            tool: format!("deepiot {}", env!("CARGO_PKG_VERSION")),
            runtime_version,
            source_date_epoch: spec.source_date_epoch,
            selftest_seed: spec.seed,
        },
    };
    let mut mtext = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BoardError::Other(format!("cannot write the manifest: {e}")))?;
    mtext.push(b'\n');
    let sum = format!("{}  {MANIFEST_PATH}\n", sha256_hex(&mtext));
    members.insert(0, (MANIFEST_SUM_PATH.into(), sum.into_bytes(), 0o644));
    members.insert(0, (MANIFEST_PATH.into(), mtext, 0o644));

    let mtime = spec.source_date_epoch.unwrap_or(0);
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, data, mode) in &members {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, path, data.as_slice())
            .map_err(|e| BoardError::Other(format!("cannot write {path} into the image: {e}")))?;
    }
    tar.into_inner()
        .map_err(|e| BoardError::Other(format!("cannot finish the image: {e}")))
}

/// Runs the runtime on this machine to get the outputs the board must reproduce.
fn compute_golden(
    spec: &BuildSpec,
    scratch: &Scratch,
    name: &str,
    bytes: &[u8],
    inputs: &[PathBuf],
) -> Result<Golden> {
    let Some(rt) = spec.runtime_path else {
        return Err(BoardError::Usage(format!(
            "no expected outputs for {name}: give --golden {name}=FILE or --no-selftest"
        )));
    };
    let model = scratch.0.join(format!("{name}.safetensors"));
    std::fs::write(&model, bytes)
        .map_err(|e| BoardError::Other(format!("cannot write {}: {e}", model.display())))?;
    let mut cmd = Command::new(rt);
    cmd.arg(&model);
    for i in inputs {
        cmd.arg("--input").arg(i);
    }
    let out = cmd.arg("--json").output().map_err(|e| {
        BoardError::Usage(format!(
            "cannot run the runtime {} on this machine to compute the self-test outputs ({e}); give --golden {name}=FILE (deepiot-run --json output from a board) or --no-selftest",
            rt.display()
        ))
    })?;
    if !out.status.success() {
        return Err(BoardError::bad_input(
            format!("models/{name}.safetensors"),
            format!(
                "the runtime failed on the self-test input: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Golden::from_json(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| BoardError::Other(format!("reading the runtime's output for {name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(t: &'a target::Target, version: Option<&str>, epoch: Option<u64>) -> BuildSpec<'a> {
        BuildSpec {
            target: t,
            runtime: b"\x7fELF fake runtime".to_vec(),
            runtime_path: None,
            models: vec![
                ("m".into(), vec![1, 2, 3]),
                ("n.small".into(), vec![4; 1000]),
            ],
            version: version.map(String::from),
            config: [("k".to_string(), "v".to_string())].into(),
            examples: 2,
            seed: 1,
            golden: BTreeMap::new(),
            settings: SelfTestSettings {
                atol: 1e-4,
                rtol: 1e-3,
            },
            selftest: false,
            source_date_epoch: epoch,
        }
    }

    #[test]
    fn build_is_deterministic_and_reads_back() {
        let t = target::load("edison", None).unwrap();
        let a = build(&spec(&t, Some("1.0"), None)).unwrap();
        assert_eq!(a, build(&spec(&t, Some("1.0"), None)).unwrap());
        assert_ne!(
            a,
            build(&spec(&t, Some("1.0"), Some(1_700_000_000))).unwrap()
        );
        let img = parse_image(&a).unwrap();
        assert_eq!(img.manifest.version, "1.0");
        assert_eq!(
            img.manifest.models[1].file.path,
            "models/n.small.safetensors"
        );
        assert_eq!(img.files["models/n.small.safetensors"], vec![4; 1000]);
        // Default version: a content hash.
        let d = parse_image(&build(&spec(&t, None, None)).unwrap()).unwrap();
        assert_eq!(d.manifest.version.len(), 12);
    }

    #[test]
    fn every_damage_is_caught() {
        let t = target::load("edison", None).unwrap();
        let a = build(&spec(&t, Some("1.0"), None)).unwrap();
        // A flipped byte in each 512-byte block that holds data or a header.
        let mut caught = 0;
        let mut blocks = 0;
        for b in 0..a.len() / 512 {
            let block = &a[b * 512..(b + 1) * 512];
            if block.iter().all(|&x| x == 0) {
                continue;
            }
            blocks += 1;
            let mut bad = a.clone();
            let at = b * 512 + block.iter().position(|&x| x != 0).unwrap_or(0);
            bad[at] ^= 0x20;
            if parse_image(&bad).is_err() {
                caught += 1;
            }
        }
        assert_eq!(caught, blocks);
        assert!(parse_image(&a[..a.len() / 2 / 512 * 512]).is_err());
        // A changed value inside the manifest (still valid JSON) is caught by its sum.
        let at = a.windows(8).position(|w| w == b"\"k\": \"v\"").unwrap() + 6;
        let mut bad = a.clone();
        bad[at] = b'w';
        assert!(parse_image(&bad)
            .unwrap_err()
            .contains("manifest is damaged"));
        assert!(parse_image(b"not an image").is_err());
    }

    #[test]
    fn golden_tolerance() {
        let s = SelfTestSettings {
            atol: 1e-4,
            rtol: 1e-3,
        };
        let g = Golden::from_json(r#"{"examples":[{"scores":[1.0,-2.0,null]}]}"#).unwrap();
        let ok = Golden::from_json(r#"{"examples":[{"scores":[1.0009,-2.0019,null]}]}"#).unwrap();
        assert!(g.check(&ok, &s).is_ok());
        let off = Golden::from_json(r#"{"examples":[{"scores":[1.01,-2.0,null]}]}"#).unwrap();
        assert!(g.check(&off, &s).unwrap_err().contains("value 0"));
        let nan = Golden::from_json(r#"{"examples":[{"scores":[1.0,-2.0,3.0]}]}"#).unwrap();
        assert!(g.check(&nan, &s).is_err());
        let short = Golden::from_json(r#"{"examples":[]}"#).unwrap();
        assert!(g.check(&short, &s).is_err());
    }
}
