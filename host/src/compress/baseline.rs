//! What the baselines of `deepiot compress --method` share: loading the model and its
//! data, distillation from the original, and a report in the same shape as DeepIoT's, so
//! `deepiot compare` and scripts read one format whatever made the model.
use super::cli::{CompressArgs, CompressReport, LayerReport};
use super::search::{SearchConfig, SearchOutcome};
use super::sites::SiteMap;
use super::surgery::Weights;
use crate::data::Dataset;
use crate::export;
use crate::models::{zoo, Net};
use crate::train::{self, Distill};
use anyhow::{bail, Context, Result};
use deepiot_format::{Graph, Op};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How `deepiot compress` shrinks the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// DeepIoT's compressor-critic: structured, each layer a smaller dense matrix.
    #[default]
    Deepiot,
    /// Magnitude pruning with splicing (DyNS, Guo et al. 2016; DyNS-Ext for recurrent
    /// layers): unstructured, the result is sparse.
    Magnitude,
    /// L1-norm filter/neuron/unit pruning (Li et al. 2017): structured, the same fraction
    /// of every layer, the elements with the smallest weight norms go.
    L1Structured,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Deepiot => "deepiot",
            Method::Magnitude => "magnitude",
            Method::L1Structured => "l1-structured",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        [Method::Deepiot, Method::Magnitude, Method::L1Structured]
            .into_iter()
            .find(|m| m.name() == s)
    }
}

/// Settings only the baselines read (DeepIoT's search ignores them).
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct BaselineArgs {
    /// magnitude: epochs of pruning with splicing (sparsity rises over the first
    /// --ramp of them); retraining with the mask fixed then runs --finetune-epochs.
    #[arg(long, default_value_t = 4.0)]
    pub prune_epochs: f64,
    /// magnitude: fraction of the pruning epochs over which sparsity rises to the target.
    #[arg(long, default_value_t = 0.6)]
    pub ramp: f64,
    /// magnitude: steps between mask updates.
    #[arg(long, default_value_t = 50)]
    pub mask_every: usize,
    /// magnitude: splicing margin; a pruned weight comes back once its magnitude exceeds
    /// the pruning threshold by this factor (DyNS's b = (1 + margin) a).
    #[arg(long, default_value_t = 0.1)]
    pub splice_margin: f64,
    /// magnitude: pruning and retraining learning rate (SGD, momentum 0.9) at the start;
    /// retraining decays it by --finetune-lr-decay per epoch. (0.01 diverged on LeNet-5
    /// below 2 % of the weights, with distillation at temperature 4.)
    #[arg(long, default_value_t = 0.002)]
    pub prune_lr: f64,
    /// magnitude: weights at or below this density are stored in CSR in the sparse copy
    /// (X.sparse.safetensors) written beside the dense file.
    #[arg(long, default_value_t = 0.3)]
    pub sparse_max_density: f64,
}

impl Default for BaselineArgs {
    fn default() -> Self {
        BaselineArgs {
            prune_epochs: 4.0,
            ramp: 0.6,
            mask_every: 50,
            splice_margin: 0.1,
            prune_lr: 0.002,
            sparse_max_density: 0.3,
        }
    }
}

/// The trained model and the data it is judged on.
pub struct Setup {
    pub net: Net,
    pub provenance: BTreeMap<String, String>,
    pub task: &'static str,
    pub data: &'static str,
    pub ds: Dataset,
    pub test_idx: Vec<usize>,
    pub acc_before: f64,
}

pub fn setup(args: &CompressArgs) -> Result<Setup> {
    train::tune_malloc();
    let (net, provenance) = export::load(&args.model)?;
    let task = args
        .task
        .clone()
        .or_else(|| provenance.get("task").cloned())
        .context("the model's provenance names no task; pass --task")?;
    let spec = zoo::find(&task).with_context(|| format!("unknown task `{task}`"))?;
    let (ds, _) = train::load_data(spec, args.data.as_deref(), args.max_train)?;
    let test_idx: Vec<usize> = (0..ds.test_len()).collect();
    let acc_before = train::accuracy(&net, &ds.test_x, &ds.test_y, &test_idx)?;
    eprintln!(
        "{}: test accuracy {:.2} % before compression",
        args.model.display(),
        100.0 * acc_before
    );
    Ok(Setup {
        net,
        provenance,
        task: spec.name,
        data: spec.data,
        ds,
        test_idx,
        acc_before,
    })
}

/// Distillation from the original file, as DeepIoT's fine-tuning does, so that the
/// methods differ in what they remove and not in how they recover.
pub fn distill(args: &CompressArgs) -> Result<Option<Distill>> {
    if args.distill_alpha <= 0.0 {
        return Ok(None);
    }
    let (teacher, _) = export::load(&args.model)?;
    Ok(Some(Distill {
        teachers: vec![std::sync::Arc::new(teacher)],
        temperature: args.temperature,
        alpha: args.distill_alpha,
    }))
}

/// Whether a tensor of a weighted layer is a weight matrix (pruned by magnitude, and
/// counted by its nonzeros) rather than a bias.
pub fn is_weight_matrix(name: &str) -> bool {
    let param = name.rsplit_once('.').map_or(name, |(_, p)| p);
    param == "weight" || param.starts_with("weight_")
}

/// Parameters that remain: nonzero entries of weight matrices plus every bias entry.
/// A structured result has (almost surely) no exact zeros, so this is its size; a
/// magnitude-pruned one is counted as its sparse file stores it.
pub fn effective_params(w: &Weights) -> usize {
    w.iter()
        .map(|(n, (_, v))| {
            if is_weight_matrix(n) {
                v.iter().filter(|x| **x != 0.0).count()
            } else {
                v.len()
            }
        })
        .sum()
}

fn node_params(graph: &Graph, w: &Weights, node: usize) -> Result<(usize, usize, u64)> {
    let info = graph.infer()?;
    let (mut all, mut eff, mut wt, mut wnz) = (0usize, 0usize, 0usize, 0usize);
    for spec in &info.params[node] {
        let (_, v) = w
            .get(&spec.name)
            .with_context(|| format!("tensor `{}` is missing", spec.name))?;
        all += v.len();
        if is_weight_matrix(&spec.name) {
            let nz = v.iter().filter(|x| **x != 0.0).count();
            eff += nz;
            wt += v.len();
            wnz += nz;
        } else {
            eff += v.len();
        }
    }
    // Every weight takes part in the same number of multiply-accumulates, so the
    // nonzero ones do this share of them.
    let macs = info.macs(graph, node);
    let macs = if wt == 0 {
        macs
    } else {
        (macs as f64 * wnz as f64 / wt as f64).round() as u64
    };
    Ok((all, eff, macs))
}

/// Units of `site`'s layer in `w` with any nonzero incoming weight (a neuron's row, a
/// filter, a recurrent unit's rows in every gate): what really remains of the layer,
/// whether it was cut out or zeroed.
fn live_units(graph: &Graph, w: &Weights, node: usize, direction: usize) -> usize {
    let n = &graph.nodes[node];
    let name = &n.name;
    let nz = |t: &str, rows: &[usize]| -> Vec<bool> {
        let Some((s, v)) = w.get(&format!("{name}.{t}")) else {
            return vec![];
        };
        let per: usize = s[1..].iter().product();
        rows.iter()
            .map(|&r| v[r * per..(r + 1) * per].iter().any(|x| *x != 0.0))
            .collect()
    };
    match &n.op {
        Op::Dense { units } => nz("weight", &(0..*units).collect::<Vec<_>>())
            .iter()
            .filter(|b| **b)
            .count(),
        Op::Conv1d { out_channels, .. } | Op::Conv2d { out_channels, .. } => {
            nz("weight", &(0..*out_channels).collect::<Vec<_>>())
                .iter()
                .filter(|b| **b)
                .count()
        }
        Op::Gru(r) | Op::Lstm(r) => {
            let g = n.op.gates().unwrap_or(1);
            let sfx = if direction == 1 { "_reverse" } else { "" };
            (0..r.hidden)
                .filter(|&u| {
                    let rows: Vec<usize> = (0..g).map(|q| q * r.hidden + u).collect();
                    nz(&format!("weight_ih_l0{sfx}"), &rows).contains(&true)
                        || nz(&format!("weight_hh_l0{sfx}"), &rows).contains(&true)
                })
                .count()
        }
        _ => 0,
    }
}

/// Per-layer figures of a result against its original, matched by layer name: one row
/// per compressible site, then one per other weighted layer (the classifier).
pub fn layer_reports(
    before_graph: &Graph,
    before: &Weights,
    after_graph: &Graph,
    after: &Weights,
) -> Result<Vec<LayerReport>> {
    let map = SiteMap::new(before_graph)?;
    let index = |name: &str| after_graph.nodes.iter().position(|n| n.name == name);
    let mut layers = Vec::new();
    for site in &map.sites {
        let (_, pb, mb) = node_params(before_graph, before, site.node)?;
        let j = index(&site.name)
            .with_context(|| format!("the result has no layer `{}`", site.name))?;
        let (_, pa, ma) = node_params(after_graph, after, j)?;
        layers.push(LayerReport {
            layer: site.name.clone(),
            direction: site.direction,
            units_before: site.width,
            units_after: live_units(after_graph, after, j, site.direction),
            params_before: pb,
            params_after: pa,
            macs_before: mb,
            macs_after: ma,
        });
    }
    let info = before_graph.infer()?;
    for (i, node) in before_graph.nodes.iter().enumerate() {
        if info.params[i].is_empty() || !map.node_sites[i].is_empty() {
            continue;
        }
        let (_, pb, mb) = node_params(before_graph, before, i)?;
        let j = index(&node.name)
            .with_context(|| format!("the result has no layer `{}`", node.name))?;
        let (_, pa, ma) = node_params(after_graph, after, j)?;
        layers.push(LayerReport {
            layer: node.name.clone(),
            direction: 0,
            units_before: 0,
            units_after: 0,
            params_before: pb,
            params_after: pa,
            macs_before: mb,
            macs_after: ma,
        });
    }
    Ok(layers)
}

/// Everything a baseline measured, for [`write_report`].
pub struct Outcome<'a> {
    pub method: Method,
    pub setup: &'a Setup,
    pub original: &'a Weights,
    pub result_graph: &'a Graph,
    pub result: &'a Weights,
    pub keep: Vec<Vec<bool>>,
    pub acc_cut: f64,
    pub acc_after: f64,
    pub prune_seconds: f64,
    pub steps: usize,
    pub finetune_seconds: f64,
    pub wall_seconds: f64,
    /// The baseline's own settings and figures, written beside the common fields.
    pub details: serde_json::Value,
}

/// The report in DeepIoT's shape (search fields empty; `baseline` holds the method's own
/// settings), written beside `out` and printed as a table.
pub fn write_report(args: &CompressArgs, o: &Outcome) -> Result<CompressReport> {
    let graph = o.setup.net.graph();
    let params_before: usize = o.original.values().map(|(_, v)| v.len()).sum();
    let params_after = effective_params(o.result);
    let layers = layer_reports(graph, o.original, o.result_graph, o.result)?;
    let macs_after = {
        let info = o.result_graph.infer()?;
        let mut total = 0;
        for i in 0..o.result_graph.nodes.len() {
            total += if info.params[i].is_empty() {
                info.macs(o.result_graph, i)
            } else {
                node_params(o.result_graph, o.result, i)?.2
            };
        }
        total
    };
    let report = CompressReport {
        task: o.setup.task.to_string(),
        method: o.method.name().into(),
        seed: args.seed,
        params_before,
        params_after,
        kept_fraction: params_after as f64 / params_before.max(1) as f64,
        macs_before: graph.infer()?.total_macs(graph),
        macs_after,
        test_accuracy_before: o.setup.acc_before,
        test_accuracy_after_cut: o.acc_cut,
        test_accuracy_after: o.acc_after,
        stopping_rule_met: true,
        layers,
        search: SearchOutcome {
            keep: o.keep.clone(),
            evaluations: vec![],
            iterations: o.steps,
            stopped_by_rule: false,
            missed: None,
            original_val_accuracy: o.setup.acc_before,
            seconds: o.prune_seconds,
            seconds_per_iteration: o.prune_seconds / o.steps.max(1) as f64,
        },
        search_seconds: o.prune_seconds,
        seconds_per_iteration: o.prune_seconds / o.steps.max(1) as f64,
        finetune_seconds: o.finetune_seconds,
        wall_seconds: o.wall_seconds,
        config: SearchConfig {
            target_kept: args.target_kept,
            batch: args.batch,
            seed: args.seed,
            ..SearchConfig::default()
        },
    };
    let mut json = serde_json::to_value(&report)?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("baseline".into(), o.details.clone());
    }
    let path = super::cli::report_path(&args.out);
    crate::paths::write_atomic(&path, &serde_json::to_vec_pretty(&json)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    print_table(&report, &args.out, &path);
    Ok(report)
}

fn print_table(r: &CompressReport, out: &Path, report: &Path) {
    println!(
        "{:<12} {:>4} {:>8} {:>8} {:>11} {:>11}",
        "layer", "dir", "units", "live", "params", "kept"
    );
    for l in &r.layers {
        println!(
            "{:<12} {:>4} {:>8} {:>8} {:>11} {:>11}",
            l.layer, l.direction, l.units_before, l.units_after, l.params_before, l.params_after
        );
    }
    println!(
        "{}: parameters {} -> {} ({:.2} % kept), MACs {} -> {}",
        r.method,
        r.params_before,
        r.params_after,
        100.0 * r.kept_fraction,
        r.macs_before,
        r.macs_after
    );
    println!(
        "test accuracy {:.2} % -> {:.2} % pruned, {:.2} % after retraining",
        100.0 * r.test_accuracy_before,
        100.0 * r.test_accuracy_after_cut,
        100.0 * r.test_accuracy_after
    );
    println!("wrote {} and {}", out.display(), report.display());
}

/// The provenance of a baseline's model file.
pub fn provenance(
    args: &CompressArgs,
    setup: &Setup,
    method: Method,
    acc_after: f64,
    kept_fraction: f64,
) -> BTreeMap<String, String> {
    let mut prov = setup.provenance.clone();
    prov.insert("method".into(), method.name().into());
    prov.insert("accuracy".into(), format!("{acc_after:.4}"));
    prov.insert(
        "original_accuracy".into(),
        format!("{:.4}", setup.acc_before),
    );
    prov.insert("kept_fraction".into(), format!("{kept_fraction:.5}"));
    prov.insert("compress_seed".into(), args.seed.to_string());
    prov
}

/// A candle network for `graph` with weights `w`.
pub fn net_from(graph: &Graph, w: &Weights) -> Result<Net> {
    let dev = candle_core::Device::Cpu;
    let tensors = w
        .iter()
        .map(|(n, (s, v))| {
            Ok((
                n.clone(),
                candle_core::Tensor::from_vec(v.clone(), s.as_slice(), &dev)?,
            ))
        })
        .collect::<Result<std::collections::HashMap<_, _>>>()?;
    Ok(Net::from_tensors(graph, tensors)?)
}

/// Fine-tuning as DeepIoT's path does it (its schedule flags, distillation from the
/// original), leaving the best validation epoch in `net`.
pub fn finetune(args: &CompressArgs, setup: &Setup, net: &Net, method: Method) -> Result<f64> {
    let spec = crate::models::zoo::find(setup.task).context("unknown task")?;
    finetune_net(args, spec, &setup.ds, net, method)
}

/// Fine-tunes a cut or pruned network; every method goes through here, so a comparison
/// differs only in what was removed. The whole training split trains and the last epoch
/// is kept (the learning rate decays to the end), distilling the original unless
/// `--distill-alpha 0`, with `--finetune-augment`: a network cut to a few percent of its
/// weights overfits the training examples' exact positions, so MNIST shifts by a pixel
/// (LeNet-5 at 1.94 % kept: 0.93-0.97 % test error against 1.03 % without).
pub fn finetune_net(
    args: &CompressArgs,
    spec: &crate::models::zoo::ModelSpec,
    ds: &crate::data::Dataset,
    net: &Net,
    method: Method,
) -> Result<f64> {
    let t = std::time::Instant::now();
    if args.finetune_epochs == 0 {
        return Ok(0.0);
    }
    let mut hyper = train::Hyper::for_model(spec.name);
    hyper.epochs = args.finetune_epochs;
    hyper.lr = args.finetune_lr;
    hyper.lr_decay = args.finetune_lr_decay;
    hyper.batch = args.batch;
    hyper.patience = args.finetune_epochs.max(1);
    if !(0.0..1.0).contains(&args.finetune_dropout) {
        bail!(
            "--finetune-dropout must be in [0, 1), got {}",
            args.finetune_dropout
        );
    }
    net.set_dropout(args.finetune_dropout, args.seed);
    let augment = match (args.finetune_augment.as_str(), spec.data) {
        ("auto", "mnist") => train::augmentation(spec, "shift")?,
        ("auto", _) => train::augmentation(spec, "default")?,
        (which, _) => train::augmentation(spec, which)?,
    };
    let fit = train::FitOptions {
        hyper,
        seed: args.seed,
        progress: true,
        verbose: true,
        checkpoint: None,
        resume: false,
        augment,
        max_steps_per_epoch: None,
        val_fraction: 0.0,
        model: format!("{}-{}", spec.name, method.name()),
        data: spec.data.to_string(),
        distill: distill(args)?,
        average_from: None,
        mixup: args.finetune_mixup,
    };
    train::fit(net, ds, &fit)?;
    Ok(t.elapsed().as_secs_f64())
}
