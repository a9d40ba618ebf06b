//! Writes every reference model, original and at its compressed widths, as a deepiot model
//! file and as ONNX, for benchmarks that compare runtimes (`scripts/peer-bench.sh`).
//!
//! `cargo run --release -p deepiot --example reference_models -- OUT_DIR`
//!
//! Latency depends on the shapes, not on the values, so the weights are PyTorch-style
//! random ones (`deepiot_format::testing::random_weights`); the compressed widths are
//! those of the README's results table (DeepIoT's headline model of each task). A
//! bidirectional layer whose directions kept different widths is stored at the wider one
//! (surgery pads the narrower with dead units), so one width per layer describes it.
use deepiot::models::zoo;
use std::path::{Path, PathBuf};

/// A zoo model, the per-example input shape and class count of its data set, and the
/// widths DeepIoT left (layer name, kept units).
struct Reference {
    file: &'static str,
    zoo: &'static str,
    input: &'static [usize],
    classes: usize,
    compressed: &'static [(&'static str, usize)],
}

const REFERENCES: &[Reference] = &[
    Reference {
        file: "lenet5",
        zoo: "mnist-lenet5",
        input: &[1, 28, 28],
        classes: 10,
        compressed: &[("conv1", 10), ("conv2", 11), ("fc1", 18)],
    },
    Reference {
        file: "userid",
        zoo: "userid-deepsense",
        input: &[3, 8, 13],
        classes: 15,
        compressed: &[
            ("conv1", 14),
            ("conv2", 14),
            ("merge", 13),
            ("gru1", 15),
            ("gru2", 24),
        ],
    },
    Reference {
        file: "har",
        zoo: "har-deepsense",
        input: &[3, 8, 13],
        classes: 7,
        compressed: &[
            ("conv1", 28),
            ("conv2", 22),
            ("merge", 21),
            ("gru1", 24),
            ("gru2", 23),
        ],
    },
    Reference {
        file: "bilstm",
        zoo: "speech-bilstm",
        input: &[100, 40],
        classes: 10,
        compressed: &[("lstm1", 16), ("lstm2", 18)],
    },
    Reference {
        file: "vgg",
        zoo: "cifar-vgg",
        input: &[3, 32, 32],
        classes: 10,
        compressed: &[
            ("conv1", 25),
            ("conv2", 27),
            ("conv3", 29),
            ("conv4", 31),
            ("conv5", 36),
            ("conv6", 27),
            ("conv7", 27),
            ("conv8", 43),
            ("fc1", 20),
            ("fc2", 23),
        ],
    },
];

/// `graph` with the named layers narrowed to `widths`; every name must exist.
fn narrowed(
    graph: deepiot_format::Graph,
    widths: &[(&str, usize)],
) -> Result<deepiot_format::Graph, String> {
    let by_index: Vec<(usize, usize)> = widths
        .iter()
        .map(|&(name, width)| {
            graph
                .nodes
                .iter()
                .position(|n| n.name == name)
                .map(|k| (k, width))
                .ok_or_else(|| format!("no layer `{name}`"))
        })
        .collect::<Result<_, _>>()?;
    deepiot::latency::narrowed(&graph, &by_index)
}

fn write(dir: &Path, name: &str, graph: &deepiot_format::Graph) -> Result<PathBuf, String> {
    let path = dir.join(format!("{name}.safetensors"));
    let bytes = deepiot_format::testing::random_model(graph, 1);
    std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let onnx = dir.join(format!("{name}.onnx"));
    deepiot::onnx_export::export_file(&path, &onnx).map_err(|e| format!("{name}: {e}"))?;
    // And its int8 file, as `deepiot quantize` writes it.
    let int8 = dir.join(format!("{name}.int8.safetensors"));
    let (q, _) = deepiot::quantize::quantize_bytes(&bytes).map_err(|e| format!("{name}: {e:#}"))?;
    std::fs::write(&int8, q).map_err(|e| format!("{}: {e}", int8.display()))?;
    Ok(path)
}

fn run() -> Result<(), String> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: reference_models OUT_DIR")?,
    );
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for r in REFERENCES {
        let original = zoo::build(r.zoo, r.input, r.classes)?;
        let small = narrowed(original.clone(), r.compressed)?;
        for (name, graph) in [
            (r.file.to_string(), original),
            (format!("{}.small", r.file), small),
        ] {
            let path = write(&dir, &name, &graph)?;
            let info = graph.infer().map_err(|e| e.to_string())?;
            println!(
                "{}  {} params, {} MACs",
                path.display(),
                info.param_count(),
                info.total_macs(&graph)
            );
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference_models: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
