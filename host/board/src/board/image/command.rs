//! The commands `image build` (models and a runtime into an image file) and `image
//! inspect` (an image file verified and described), each with its plain config.
use super::read::corrupt;
use super::SelfTestSettings;
use super::{build, parse_image, read_image, BuildSpec, FileEntry, Golden, Image};
use crate::board::error::{BoardError, Result};
use crate::board::progress::Progress;
use crate::board::{check_model, human_bytes, read_local, runtime_binary};
use crate::board::{PrintConfig, TargetConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `image build` puts into which file. Everything but `models` and `output` has a
/// default.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBuildConfig {
    /// Model files (.safetensors) to put in the image.
    pub models: Vec<PathBuf>,
    pub target: TargetConfig,
    /// Where to write the image.
    pub output: PathBuf,
    /// A runtime binary to use instead of building deepiot-run for the target.
    pub runtime: Option<PathBuf>,
    /// The image's version label (default: the first 12 hex digits of its content hash).
    pub image_version: Option<String>,
    /// Settings for the board's application: one-word keys, one-line values.
    pub config: BTreeMap<String, String>,
    /// Self-test examples per model (1 to 1000).
    pub selftest_examples: u32,
    /// Seed of the self-test inputs.
    pub seed: u64,
    /// Expected outputs by model name, files in `deepiot-run --json` form; a model not
    /// named here gets what the runtime computes on this machine.
    pub golden: BTreeMap<String, PathBuf>,
    /// How far the board's outputs may be from the expected ones (both parts >= 0).
    pub tolerance: SelfTestSettings,
    /// With self-test data (false: flash then only checks that each model loads).
    pub selftest: bool,
    /// `json`: the manifest as JSON on stdout.
    pub print: PrintConfig,
}

impl Default for ImageBuildConfig {
    fn default() -> Self {
        ImageBuildConfig {
            models: Vec::new(),
            target: TargetConfig::default(),
            output: PathBuf::new(),
            runtime: None,
            image_version: None,
            config: BTreeMap::new(),
            selftest_examples: 2,
            seed: 1,
            golden: BTreeMap::new(),
            tolerance: SelfTestSettings {
                atol: 1e-4,
                rtol: 1e-3,
            },
            selftest: true,
            print: PrintConfig::default(),
        }
    }
}

/// Which image `image inspect` verifies and describes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageInspectConfig {
    /// The image file.
    pub image: PathBuf,
    /// Print JSON on stdout.
    pub json: bool,
}

/// The application settings go into the manifest as they are: one word, one line.
fn check_config(config: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in config {
        if k.is_empty() || k.contains(char::is_whitespace) || v.contains('\n') {
            return Err(BoardError::Usage(format!(
                "--config {:?}: the key must be one word and the value one line",
                format!("{k}={v}")
            )));
        }
    }
    Ok(())
}

/// Builds the image, writes it atomically to `output` and prints its description.
pub fn run_build(a: &ImageBuildConfig) -> Result<()> {
    let progress = Progress::new(a.print.quiet);
    let target = a.target.load()?;
    let mut models = Vec::new();
    for path in &a.models {
        let bytes = read_local(path, "model file")?;
        let name = check_model(path, &bytes)?;
        if models.iter().any(|(n, _)| n == &name) {
            return Err(BoardError::Usage(format!("two models are named {name}")));
        }
        models.push((name, bytes));
    }
    check_config(&a.config)?;
    let mut golden = BTreeMap::new();
    for (name, file) in &a.golden {
        if !models.iter().any(|(n, _)| n == name) {
            return Err(BoardError::Usage(format!(
                "--golden {name}=...: no model is named {name}"
            )));
        }
        let text = std::fs::read_to_string(file)
            .map_err(|e| BoardError::bad_input(file, format!("cannot read: {e}")))?;
        let g = Golden::from_json(&text).map_err(|e| BoardError::bad_input(file, e))?;
        golden.insert(name.clone(), g);
    }
    if a.selftest_examples == 0 || a.selftest_examples > 1000 {
        return Err(BoardError::Usage(
            "--selftest-examples must be between 1 and 1000".into(),
        ));
    }
    if !(a.tolerance.atol >= 0.0 && a.tolerance.rtol >= 0.0) {
        return Err(BoardError::Usage("--atol and --rtol must be >= 0".into()));
    }
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => Some(s.trim().parse::<u64>().map_err(|_| {
            BoardError::Usage(format!(
                "SOURCE_DATE_EPOCH={s:?} is not a number of seconds"
            ))
        })?),
        _ => None,
    };
    let (rt_path, runtime) = runtime_binary(a.runtime.as_deref(), &target, &progress)?;
    if let Some(v) = &a.image_version {
        if v.is_empty() || v.contains(char::is_control) {
            return Err(BoardError::Usage(
                "--image-version must be one line of text".into(),
            ));
        }
    }
    progress.step(format!(
        "computing the self-test outputs with {}",
        rt_path.display()
    ));
    let spec = BuildSpec {
        target: &target,
        runtime,
        runtime_path: Some(&rt_path),
        models,
        version: a.image_version.clone(),
        config: a.config.clone(),
        examples: a.selftest_examples,
        seed: a.seed,
        golden,
        settings: a.tolerance.clone(),
        selftest: a.selftest,
        source_date_epoch,
    };
    let bytes = build(&spec)?;
    // Write next to the destination, then rename: a reader never sees half an image.
    let tmp = a.output.with_extension("img.part");
    std::fs::write(&tmp, &bytes)
        .and_then(|_| std::fs::rename(&tmp, &a.output))
        .map_err(|e| BoardError::Other(format!("cannot write {}: {e}", a.output.display())))?;
    let img = parse_image(&bytes).map_err(|m| corrupt(&a.output, m))?;
    let headline = format!(
        "wrote {} ({}, sha256 {})",
        a.output.display(),
        human_bytes(img.bytes),
        img.sha256
    );
    print_image(&img, a.print.json, &headline);
    Ok(())
}

/// Prints a verified image: its manifest as JSON, or `headline` and its description.
fn print_image(img: &Image, json: bool, headline: &str) {
    if json {
        println!("{}", inspect_json(img));
    } else {
        println!("{headline}");
        print!("{}", describe(img));
    }
}

fn inspect_json(img: &Image) -> serde_json::Value {
    serde_json::json!({
        "sha256": img.sha256,
        "bytes": img.bytes,
        "verified": true,
        "manifest": img.manifest,
    })
}

/// The human description of a verified image.
pub fn describe(img: &Image) -> String {
    let m = &img.manifest;
    let mut s = String::new();
    s.push_str(&format!(
        "format {} v{}, version {}, target {} ({}, uname -m: {})\n",
        m.format,
        m.format_version,
        m.version,
        m.target.name,
        m.target.triple,
        m.target.arch.join("/")
    ));
    s.push_str(&format!(
        "built by {}; runtime {}; {}\n",
        m.build.tool,
        m.build
            .runtime_version
            .as_deref()
            .unwrap_or("version unknown"),
        match m.build.source_date_epoch {
            Some(t) => format!("source date {}", crate::board::session::utc_text(t)),
            None => "no build time recorded".into(),
        }
    ));
    if !m.config.is_empty() {
        s.push_str("config:\n");
        for (k, v) in &m.config {
            s.push_str(&format!("  {k} = {v}\n"));
        }
    }
    s.push_str("members (all sizes and sha256 verified):\n");
    let mut line = |e: &FileEntry, note: &str| {
        s.push_str(&format!(
            "  ok  {:<40} {:>10}  {}  {note}\n",
            e.path,
            human_bytes(e.bytes),
            &e.sha256[..16]
        ));
    };
    line(&m.runtime, "runtime");
    for md in &m.models {
        line(&md.file, &format!("model {}", md.name));
        for i in &md.inputs {
            line(i, "self-test input");
        }
        if let Some(g) = &md.golden {
            line(g, "self-test expected output");
        }
    }
    let st = m.models.iter().filter(|x| x.golden.is_some()).count();
    s.push_str(&format!(
        "self-test: {st} of {} model(s), tolerance |got - expected| <= {} + {} x |expected|\n",
        m.models.len(),
        m.selftest.atol,
        m.selftest.rtol
    ));
    s
}

/// Reads the image, verifies every member and prints its description.
pub fn run_inspect(a: &ImageInspectConfig) -> Result<()> {
    let img = read_image(&a.image)?;
    let headline = format!(
        "image {}: {}, sha256 {}",
        a.image.display(),
        human_bytes(img.bytes),
        img.sha256
    );
    print_image(&img, a.json, &headline);
    Ok(())
}
