//! What `deepiot-run` prints with `--json`: one definition for the writer and the readers.
//!
//! The board binary serialises these structs and the host (quick start, `compare`,
//! `deepiot bench` on boards, the end-to-end tests) deserialises the same structs, so a
//! field cannot be renamed on one side only. Every field is required when reading: a
//! missing or renamed one is an error that names it, never a silent 0 or `None`. Fields
//! that can be `null` are still required to be present (see [`RunExample::class`]); the
//! fields that may be absent are [`RunExample::other_outputs`], which only multi-output
//! models have, and [`BenchReport::layers`], which only `bench --per-layer` measures.
//!
//! Unknown fields are accepted, so a host keeps reading the reports of a newer runtime that
//! added a figure; what it reads is checked.
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Deserializer, Serialize};

/// Reads a nullable field that must still be present: serde would quietly take a missing
/// `Option` field for `None`, which is exactly the silent default this contract forbids.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

/// A named tensor shape, per example (no batch axis).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedShape {
    pub name: String,
    pub shape: Vec<usize>,
}

/// `deepiot-run bench MODEL --json`: timing and memory of one model on one machine.
/// (`Default` is for building reports in tests; parsing still requires every field.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The model path as given on the command line.
    pub model: String,
    pub iterations: u64,
    pub warmup: u64,
    /// Seed of the [`crate::rng::fill_symmetric`] inputs (one per model input, `seed + i`).
    pub seed: u64,
    pub file_bytes: u64,
    pub weight_bytes: u64,
    pub arena_bytes: u64,
    /// Dense parameter count (the same for the sparse and dense files of one model).
    pub params: u64,
    /// Weights and biases that are not exactly zero.
    pub nonzeros: u64,
    pub macs: u64,
    /// Unit of the `*_us` figures: always `"us"` (microseconds), stated for readers of
    /// the bare JSON.
    pub unit: String,
    pub mean_us: f64,
    pub std_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub throughput_per_s: f64,
    pub load_ms: f64,
    /// `null` where the kernel does not report `VmHWM`.
    #[serde(deserialize_with = "present")]
    pub peak_rss_kib: Option<u64>,
    /// Heap allocations during the timed runs (the runtime's promise is 0).
    pub allocations: u64,
    pub allocated_bytes: u64,
    /// A debug build's timings are 10-50x slower; readers should not compare them.
    pub debug_build: bool,
    /// Each layer's time, from a second timed loop (`bench --per-layer`); absent
    /// otherwise, so the headline figures above are never measured with the per-layer
    /// clock reads in the loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerTime>>,
}

/// One layer of [`BenchReport::layers`], in execution order (views such as `flatten`
/// move no data and are not listed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerTime {
    pub name: String,
    /// [`crate::Op::kind`], e.g. `conv2d`.
    pub op: String,
    /// Output shape per example.
    pub shape: Vec<usize>,
    /// Multiply-accumulates of a dense evaluation.
    pub macs: u64,
    pub p50_us: f64,
    pub mean_us: f64,
    /// This layer's mean over the sum of all layers' means.
    pub share: f64,
}

/// `deepiot-run MODEL --input FILE... --json`: scores and class for every example.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub model: String,
    pub inputs: Vec<RunInput>,
    /// Every output of the model, in order; the first is the one classes are read from.
    pub outputs: Vec<NamedShape>,
    pub classes: Vec<String>,
    pub examples: Vec<RunExample>,
}

/// One model input of a [`RunReport`] and the file its examples came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInput {
    pub name: String,
    pub shape: Vec<usize>,
    pub file: String,
}

/// One example of a [`RunReport`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunExample {
    pub index: u64,
    /// The first output's values; `null` stands for a value JSON cannot hold (NaN, inf).
    pub scores: Vec<Option<f32>>,
    /// The winning class, `null` when no score is a number.
    #[serde(deserialize_with = "present")]
    pub class: Option<u64>,
    /// The class's name, `null` when the model names no classes (or there is no class).
    #[serde(deserialize_with = "present")]
    pub label: Option<String>,
    /// The values of outputs 2.. (absent for the usual single-output model, so its
    /// report stays as short as before multi-output models existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_outputs: Option<Vec<Vec<Option<f32>>>>,
}

/// `deepiot-run info MODEL --json`: what the file holds, layer by layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InfoReport {
    pub model: String,
    pub format_version: u32,
    pub inputs: Vec<NamedShape>,
    /// Output node names, in order.
    pub outputs: Vec<String>,
    pub classes: Vec<String>,
    pub provenance: BTreeMap<String, String>,
    pub layers: Vec<LayerInfo>,
    pub tensors: Vec<TensorInfo>,
    pub file_bytes: u64,
    pub params: u64,
    pub nonzeros: u64,
    pub macs: u64,
    pub weight_bytes: u64,
    pub arena_bytes: u64,
}

/// One node of an [`InfoReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    pub name: String,
    /// [`crate::Op::kind`], e.g. `conv2d`.
    pub op: String,
    /// The op's settings in a few characters, e.g. `20 ch, k 5x5/1x1 pad 0x0`.
    pub detail: String,
    /// Names of the inputs or nodes it reads.
    pub inputs: Vec<String>,
    /// Output shape per example.
    pub shape: Vec<usize>,
    pub params: u64,
    /// Multiply-accumulates of a dense evaluation.
    pub macs: u64,
}

/// How a weight tensor is stored in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    Dense,
    /// Compressed sparse rows, see [`crate::sparse`].
    Csr,
    /// int8 values with per-row scales, see [`crate::quant`].
    Int8,
}

/// One weight tensor of an [`InfoReport`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub storage: Storage,
    /// Values the file stores (all of a dense tensor; the non-zeros of a sparse one).
    pub stored: u64,
    pub nonzeros: u64,
    /// `nonzeros` over the dense element count, rounded to 6 decimals.
    pub density: f64,
}

impl BenchReport {
    /// Reads what `deepiot-run bench --json` printed.
    pub fn parse(json: &[u8]) -> Result<BenchReport, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

impl RunReport {
    /// Reads what `deepiot-run MODEL --input FILE --json` printed.
    pub fn parse(json: &[u8]) -> Result<RunReport, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// The fraction of examples whose class is the label at the same index.
    pub fn accuracy(&self, labels: &[u32]) -> f64 {
        let correct = self
            .examples
            .iter()
            .zip(labels)
            .filter(|(e, &y)| e.class == Some(u64::from(y)))
            .count();
        correct as f64 / labels.len().max(1) as f64
    }
}

impl InfoReport {
    /// Reads what `deepiot-run info MODEL --json` printed.
    pub fn parse(json: &[u8]) -> Result<InfoReport, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    const BENCH: &str = r#"{"model":"m","iterations":5,"warmup":1,"seed":0,"file_bytes":10,
        "weight_bytes":8,"arena_bytes":64,"params":2,"nonzeros":2,"macs":2,"unit":"us",
        "mean_us":1.5,"std_us":0.1,"p50_us":1.4,"p99_us":2.0,"min_us":1.0,"max_us":2.5,
        "throughput_per_s":600.0,"load_ms":0.1,"peak_rss_kib":null,"allocations":0,
        "allocated_bytes":0,"debug_build":false}"#;

    #[test]
    fn every_bench_field_is_required_even_the_nullable_one() {
        let r = BenchReport::parse(BENCH.as_bytes()).unwrap();
        assert_eq!((r.p50_us, r.params, r.peak_rss_kib), (1.4, 2, None));
        for field in ["p50_us", "unit", "model", "peak_rss_kib", "debug_build"] {
            let renamed = BENCH.replace(&format!("\"{field}\""), "\"renamed\"");
            let err = BenchReport::parse(renamed.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn run_examples_need_class_and_label_but_not_other_outputs() {
        let ok = r#"{"model":"m","inputs":[{"name":"x","shape":[2],"file":"x.npy"}],
            "outputs":[{"name":"fc","shape":[2]}],"classes":[],
            "examples":[{"index":0,"scores":[0.1,null],"class":0,"label":null}]}"#;
        let r = RunReport::parse(ok.as_bytes()).unwrap();
        assert_eq!(r.examples[0].scores, vec![Some(0.1), None]);
        assert_eq!(r.examples[0].other_outputs, None);
        for field in ["class", "label", "scores", "file"] {
            let renamed = ok.replace(&format!("\"{field}\""), "\"renamed\"");
            let err = RunReport::parse(renamed.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn reports_read_back_what_they_write() {
        let run = RunReport {
            model: "m".into(),
            inputs: vec![RunInput {
                name: "x".into(),
                shape: vec![1, 2],
                file: "x\"y.npy".into(),
            }],
            outputs: vec![NamedShape {
                name: "fc".into(),
                shape: vec![3],
            }],
            classes: vec!["a".into(), "b".into(), "c".into()],
            examples: vec![RunExample {
                index: 0,
                scores: vec![Some(0.1), None, Some(-1e-7)],
                class: Some(0),
                label: Some("a".into()),
                other_outputs: Some(vec![vec![Some(3.0e30)]]),
            }],
        };
        let text = serde_json::to_string(&run).unwrap();
        assert_eq!(RunReport::parse(text.as_bytes()).unwrap(), run);
        let mut info = InfoReport {
            model: "m".into(),
            ..InfoReport::default()
        };
        info.provenance.insert("task".into(), "mnist".into());
        info.tensors.push(TensorInfo {
            name: "fc.weight".into(),
            storage: Storage::Csr,
            density: 0.25,
            ..TensorInfo::default()
        });
        let text = serde_json::to_string(&info).unwrap();
        assert!(text.contains(r#""storage":"csr""#), "{text}");
        assert_eq!(InfoReport::parse(text.as_bytes()).unwrap(), info);
        let mut bench = BenchReport {
            unit: "us".to_string(),
            peak_rss_kib: Some(1234),
            ..BenchReport::default()
        };
        let text = serde_json::to_string(&bench).unwrap();
        assert!(!text.contains("layers"), "{text}");
        assert_eq!(BenchReport::parse(text.as_bytes()).unwrap(), bench);
        bench.layers = Some(vec![LayerTime {
            name: "conv1".into(),
            op: "conv2d".into(),
            shape: vec![20, 24, 24],
            macs: 288_000,
            p50_us: 41.5,
            mean_us: 42.0,
            share: 0.25,
        }]);
        let text = serde_json::to_string(&bench).unwrap();
        assert_eq!(BenchReport::parse(text.as_bytes()).unwrap(), bench);
        let renamed = text.replace("\"share\"", "\"renamed\"");
        let err = BenchReport::parse(renamed.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("share"), "{err}");
    }

    #[test]
    fn accuracy_counts_classes_equal_to_labels() {
        let r = RunReport::parse(
            br#"{"model":"m","inputs":[],"outputs":[],"classes":[],"examples":[
                {"index":0,"scores":[0.1,null],"class":0,"label":null},
                {"index":1,"scores":[null,null],"class":null,"label":null},
                {"index":2,"scores":[0.0,1.0],"class":1,"label":null}]}"#,
        )
        .unwrap();
        assert_eq!(r.accuracy(&[0, 0, 0]), 1.0 / 3.0);
        assert_eq!(r.accuracy(&[0, 1, 1]), 2.0 / 3.0);
    }
}
