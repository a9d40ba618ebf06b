//! `deepiot-run info MODEL`: what the file holds, layer by layer.
use crate::args::InfoOpts;
use crate::prelude::*;
use crate::{emit, load_model, shown, Failure, Result};
use core::fmt::Write;
use deepiot_runtime::format::report::{InfoReport, LayerInfo, NamedShape, Storage, TensorInfo};
use deepiot_runtime::format::{self, Op, Source};

/// The op's settings in a few characters, e.g. `5x5/1 pad 0` or `hidden 64 bi last`.
fn detail(op: &Op) -> String {
    match op {
        Op::Dense { units } => format!("units {units}"),
        Op::Conv1d {
            out_channels,
            kernel,
            stride,
            padding,
        } => format!("{out_channels} ch, k {kernel}/{stride} pad {padding}"),
        Op::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => format!(
            "{out_channels} ch, k {}x{}/{}x{} pad {}x{}",
            kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1]
        ),
        Op::MaxPool1d(p) | Op::AvgPool1d(p) => format!("k {}/{}", p.kernel, p.stride),
        Op::MaxPool2d(p) | Op::AvgPool2d(p) => format!(
            "k {}x{}/{}x{}",
            p.kernel[0], p.kernel[1], p.stride[0], p.stride[1]
        ),
        Op::Reshape { shape } => format!("{shape:?}"),
        Op::Permute { perm } => format!("{perm:?}"),
        Op::Concat { axis } => format!("axis {axis}"),
        Op::Gru(r) | Op::Lstm(r) => format!(
            "hidden {}{}, {}",
            r.hidden,
            if r.bidirectional { " bi" } else { "" },
            match r.output {
                format::SeqOutput::Sequence => "sequence",
                format::SeqOutput::Last => "last",
                format::SeqOutput::Mean => "mean",
            }
        ),
        _ => String::new(),
    }
}

/// How one tensor is stored and how much of it is non-zero.
struct TensorRow {
    name: String,
    shape: Vec<usize>,
    storage: Storage,
    /// Values the file stores (all of a dense tensor; the non-zeros of a sparse one).
    stored: usize,
    nonzeros: usize,
    density: f64,
}

fn tensor_rows(file: &format::ModelFile<'_>) -> Vec<TensorRow> {
    file.info
        .params
        .iter()
        .flatten()
        .map(|p| {
            let (storage, stored, nonzeros) = match (file.csr(&p.name), file.quant(&p.name)) {
                (Some(c), _) => (
                    Storage::Csr,
                    c.nnz(),
                    c.values().filter(|&v| v != 0.0).count(),
                ),
                (None, Some(q)) => (
                    Storage::Int8,
                    q.rows * q.cols,
                    q.values().filter(|&v| v != 0).count(),
                ),
                (None, None) => {
                    let v = file.tensor_f32(&p.name).unwrap_or_default();
                    (
                        Storage::Dense,
                        v.len(),
                        v.iter().filter(|&&v| v != 0.0).count(),
                    )
                }
            };
            TensorRow {
                name: p.name.clone(),
                shape: p.shape.clone(),
                storage,
                stored,
                nonzeros,
                density: nonzeros as f64 / p.len().max(1) as f64,
            }
        })
        .collect()
}

fn shape_text(s: &[usize]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn main(opts: &InfoOpts) -> Result<()> {
    let (bytes, model) = load_model(&opts.model)?;
    // `load_model` already validated the file, so this parse succeeds; map it anyway.
    let file = format::parse(&bytes).map_err(|e| Failure::model(e.to_string()))?;
    let (graph, info) = (&file.graph, &file.info);
    let source_name = |s: &Source| match *s {
        Source::Input(i) => graph.inputs[i].name.as_str(),
        Source::Node(k) => graph.nodes[k].name.as_str(),
    };
    if opts.json {
        let report = InfoReport {
            model: shown(&opts.model),
            format_version: graph.version,
            inputs: graph
                .inputs
                .iter()
                .map(|i| NamedShape {
                    name: i.name.clone(),
                    shape: i.shape.clone(),
                })
                .collect(),
            outputs: graph.outputs.clone(),
            classes: graph.classes.clone(),
            provenance: file.provenance.clone(),
            layers: graph
                .nodes
                .iter()
                .enumerate()
                .map(|(k, node)| LayerInfo {
                    name: node.name.clone(),
                    op: node.op.kind().into(),
                    detail: detail(&node.op),
                    inputs: info.node_inputs[k]
                        .iter()
                        .map(|s| source_name(s).into())
                        .collect(),
                    shape: info.node_shapes[k].clone(),
                    params: info.params[k].iter().map(|p| p.len() as u64).sum(),
                    macs: info.macs(graph, k),
                })
                .collect(),
            tensors: tensor_rows(&file)
                .into_iter()
                .map(|t| TensorInfo {
                    name: t.name,
                    shape: t.shape,
                    storage: t.storage,
                    stored: t.stored as u64,
                    nonzeros: t.nonzeros as u64,
                    density: libm::round(t.density * 1e6) / 1e6,
                })
                .collect(),
            file_bytes: bytes.len() as u64,
            params: model.param_count() as u64,
            nonzeros: model.nonzero_count() as u64,
            macs: model.macs(),
            weight_bytes: model.weight_bytes() as u64,
            arena_bytes: model.arena_bytes() as u64,
        };
        let mut text = serde_json::to_string(&report)
            .map_err(|e| Failure::runtime(format!("cannot write the report: {e}")))?;
        text.push('\n');
        return emit(&text);
    }

    let mut text = String::new();
    let _ = writeln!(
        text,
        "model     {} ({} bytes, format version {})",
        shown(&opts.model),
        bytes.len(),
        graph.version
    );
    for inp in &graph.inputs {
        let _ = writeln!(text, "input     {} {}", inp.name, shape_text(&inp.shape));
    }
    for (o, name) in graph.outputs.iter().enumerate() {
        let _ = writeln!(
            text,
            "output    {} {}",
            name,
            shape_text(model.output_shape(o))
        );
    }
    if !graph.classes.is_empty() {
        let _ = writeln!(text, "classes   {}", graph.classes.join(", "));
    }
    for (k, v) in &file.provenance {
        let _ = writeln!(text, "{k:<9} {v}");
    }
    let rows: Vec<[String; 7]> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(k, node)| {
            [
                node.name.clone(),
                node.op.kind().to_string(),
                detail(&node.op),
                info.node_inputs[k]
                    .iter()
                    .map(source_name)
                    .collect::<Vec<_>>()
                    .join(","),
                shape_text(&info.node_shapes[k]),
                info.params[k]
                    .iter()
                    .map(|p| p.len())
                    .sum::<usize>()
                    .to_string(),
                info.macs(graph, k).to_string(),
            ]
        })
        .collect();
    let head = [
        "layer", "op", "settings", "reads", "output", "params", "MACs",
    ];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    text.push('\n');
    let line = |text: &mut String, cells: [&str; 7]| {
        for (i, c) in cells.iter().enumerate() {
            if i >= 5 {
                let _ = write!(text, "  {c:>w$}", w = width[i]);
            } else {
                let _ = write!(text, "{c:<w$}  ", w = width[i]);
            }
        }
        text.push('\n');
    };
    line(&mut text, head);
    for r in &rows {
        line(&mut text, r.each_ref().map(String::as_str));
    }
    let tensors = tensor_rows(&file);
    let cells: Vec<[String; 6]> = tensors
        .iter()
        .map(|t| {
            [
                t.name.clone(),
                shape_text(&t.shape),
                match t.storage {
                    Storage::Dense => "dense",
                    Storage::Csr => "csr",
                    Storage::Int8 => "int8",
                }
                .to_string(),
                t.stored.to_string(),
                t.nonzeros.to_string(),
                format!("{:.2} %", t.density * 100.0),
            ]
        })
        .collect();
    let head = ["tensor", "shape", "storage", "stored", "nonzero", "density"];
    let mut width = head.map(str::len);
    for r in &cells {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    text.push('\n');
    for r in core::iter::once(head.map(String::from)).chain(cells) {
        for (i, c) in r.iter().enumerate() {
            if i >= 3 {
                let _ = write!(text, "  {c:>w$}", w = width[i]);
            } else {
                let _ = write!(text, "{c:<w$}  ", w = width[i]);
            }
        }
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "\ntotal     {} params ({} non-zero), {} MACs per inference (dense count)",
        model.param_count(),
        model.nonzero_count(),
        model.macs()
    );
    let _ = writeln!(
        text,
        "memory    weights {} bytes, arena {} bytes (all activations and scratch, after reuse)",
        model.weight_bytes(),
        model.arena_bytes()
    );
    emit(&text)
}
