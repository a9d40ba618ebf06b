//! Training mechanics: checkpoints that `--resume` continues, early stopping, settings a
//! checkpoint refuses, and the `train` / `eval` commands end to end on a slice of the
//! bundled MNIST subset.
use deepiot::data::{bundled_dir, Dataset, Standardization};
use deepiot::models::Net;
use deepiot::rng::Rng;
use deepiot::train::{self, fit, Checkpoint, FitOptions, Hyper};
use deepiot_format::{Graph, Op};

fn graph() -> Graph {
    let mut g = Graph::new("x", &[6]);
    g.push("fc1", Op::Dense { units: 8 });
    g.push("relu", Op::Relu);
    g.push("fc2", Op::Dense { units: 3 });
    g
}

fn data() -> Dataset {
    let mut rng = Rng::new(3);
    let mut make = |n: usize| {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3;
            x.extend((0..6).map(|j| if j / 2 == c { 1.0 } else { 0.0 } + rng.uniform(-0.5, 0.5)));
            y.push(c as u32);
        }
        (x, y)
    };
    let (train, test) = (make(120), make(30));
    let classes = vec!["a".into(), "b".into(), "c".into()];
    Dataset::new(
        "toy",
        vec![6],
        classes,
        train,
        test,
        Standardization::scaled(1, 1.0),
    )
}

fn opts(
    epochs: usize,
    lr: f64,
    patience: usize,
    ck: Option<Checkpoint>,
    resume: bool,
) -> FitOptions {
    FitOptions {
        hyper: Hyper {
            epochs,
            batch: 16,
            lr,
            lr_decay: 0.9,
            weight_decay: 0.0,
            patience,
        },
        seed: 9,
        progress: false,
        verbose: false,
        checkpoint: ck,
        resume,
        augment: None,
        max_steps_per_epoch: None,
        val_fraction: 0.2,
        model: "toy".into(),
        data: "toy".into(),
        distill: None,
        average_from: None,
        mixup: None,
        print_test: false,
    }
}

#[test]
fn resume_continues_from_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ck = Checkpoint::beside(&dir.path().join("m.safetensors"));
    let net = Net::new(&graph(), 1).unwrap();
    let first = fit(&net, &data(), &opts(2, 1e-2, 10, Some(ck.clone()), false)).unwrap();
    assert_eq!(first.epochs.len(), 2);
    assert!(ck.file.exists());

    // A new process: fresh weights, then --resume for 2 more epochs.
    let net2 = Net::new(&graph(), 1).unwrap();
    let second = fit(&net2, &data(), &opts(4, 1e-2, 10, Some(ck.clone()), true)).unwrap();
    assert_eq!(second.resumed_after, Some(2));
    assert_eq!(second.epochs.len(), 4);
    assert_eq!(
        second.epochs[..2],
        first.epochs[..2],
        "the history before the checkpoint is kept"
    );
    assert!(second.epochs[3].train_loss < first.epochs[0].train_loss);

    // A checkpoint refuses other settings.
    let mut other = opts(4, 1e-2, 10, Some(ck), true);
    other.seed = 10;
    let err = fit(&Net::new(&graph(), 1).unwrap(), &data(), &other).unwrap_err();
    assert!(format!("{err:#}").contains("other settings"), "{err:#}");
}

/// Stopped after any epoch and resumed in a new network, a run ends with the same weights,
/// bit for bit, and the same per-epoch figures as a run never stopped: the checkpoint holds
/// AdamW's moments, and the batch order, dropout and augmentation depend only on the seed
/// and the epoch.
#[test]
fn a_resumed_run_is_the_uninterrupted_run_bit_for_bit() {
    let straight_net = Net::new(&graph(), 1).unwrap();
    let straight = fit(&straight_net, &data(), &opts(4, 1e-2, 10, None, false)).unwrap();
    let straight_w = straight_net.tensors().unwrap();
    let without_time = |h: &deepiot::train::History| {
        h.epochs
            .iter()
            .map(|e| (e.epoch, e.train_loss, e.train_accuracy, e.val_accuracy))
            .collect::<Vec<_>>()
    };
    for stop in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let ck = Checkpoint::beside(&dir.path().join("m.safetensors"));
        let net = Net::new(&graph(), 1).unwrap();
        fit(
            &net,
            &data(),
            &opts(stop, 1e-2, 10, Some(ck.clone()), false),
        )
        .unwrap();
        let resumed_net = Net::new(&graph(), 7).unwrap();
        let resumed = fit(&resumed_net, &data(), &opts(4, 1e-2, 10, Some(ck), true)).unwrap();
        assert_eq!(resumed.resumed_after, Some(stop));
        assert_eq!(
            without_time(&resumed),
            without_time(&straight),
            "stopped after {stop}"
        );
        assert_eq!(
            resumed.loss_curve, straight.loss_curve,
            "stopped after {stop}"
        );
        for ((name, _, a), (_, _, b)) in resumed_net.tensors().unwrap().iter().zip(&straight_w) {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b), "{name}: stopped after epoch {stop}");
        }
    }
}

/// Weight averaging from epoch 2 of 3 gives the mean of the weights after epochs 2 and 3
/// of the same run without averaging, and a run resumed in the middle carries the mean on.
#[test]
fn weight_averaging_is_the_mean_of_the_late_epochs_and_survives_resume() {
    let plain = |epochs: usize| {
        let net = Net::new(&graph(), 1).unwrap();
        let mut o = opts(epochs, 1e-2, 10, None, false);
        o.val_fraction = 0.0;
        fit(&net, &data(), &o).unwrap();
        net.tensors().unwrap()
    };
    let (after2, after3) = (plain(2), plain(3));
    let averaged = |o: FitOptions| {
        let net = Net::new(&graph(), 1).unwrap();
        let h = fit(&net, &data(), &o).unwrap();
        (h, net.tensors().unwrap())
    };
    let mut o = opts(3, 1e-2, 10, None, false);
    o.val_fraction = 0.0;
    o.average_from = Some(2);
    let (h, mean) = averaged(o.clone());
    assert_eq!(h.best_epoch, 3);
    for ((name, _, m), ((_, _, a), (_, _, b))) in mean.iter().zip(after2.iter().zip(&after3)) {
        for ((m, a), b) in m.iter().zip(a).zip(b) {
            assert!((m - 0.5 * (a + b)).abs() < 1e-6, "{name}: {m} vs {a}, {b}");
        }
        assert!(
            a != b,
            "{name}: epoch 3 changed nothing, the test proves nothing"
        );
    }

    // Two epochs, then a resumed third: the checkpoint carries the running mean and the
    // optimiser on, so the result is the uninterrupted average, bit for bit.
    let dir = tempfile::tempdir().unwrap();
    let ck = Checkpoint::beside(&dir.path().join("m.safetensors"));
    let mut first = o.clone();
    first.hyper.epochs = 2;
    first.checkpoint = Some(ck.clone());
    averaged(first);
    let mut rest = o;
    rest.checkpoint = Some(ck.clone());
    rest.resume = true;
    let (_, resumed) = averaged(rest);
    assert_eq!(resumed, mean);
}

#[test]
fn resume_without_a_checkpoint_says_how_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let ck = Checkpoint::beside(&dir.path().join("m.safetensors"));
    let err = fit(
        &Net::new(&graph(), 1).unwrap(),
        &data(),
        &opts(2, 1e-2, 10, Some(ck), true),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("without --resume"), "{err:#}");
}

#[test]
fn early_stopping_stops_when_validation_stalls() {
    // A learning rate of 0 never improves the validation accuracy after epoch 1.
    let net = Net::new(&graph(), 1).unwrap();
    let h = fit(&net, &data(), &opts(10, 0.0, 2, None, false)).unwrap();
    assert!(h.stopped_early);
    assert_eq!(h.epochs.len(), 3);
    assert_eq!(h.best_epoch, 1);
}

/// `deepiot train` on a slice of the bundled MNIST subset: one short epoch of LeNet-5.
fn lenet_config(out: &std::path::Path) -> train::TrainConfig {
    train::TrainConfig {
        task: "mnist-lenet5".into(),
        epochs: Some(1),
        seed: 1,
        batch: Some(32),
        lr: None,
        lr_decay: None,
        patience: None,
        weight_decay: None,
        dropout: None,
        val_fraction: 0.1,
        augment: "default".into(),
        data: Some(bundled_dir()),
        label_column: "label".into(),
        resume: false,
        print_test: false,
        max_train: Some(640),
        max_steps: Some(10),
        init: None,
        reinit: false,
        average_from: None,
        teacher: vec![],
        mixup: None,
        distill_alpha: 0.7,
        temperature: 4.0,
        out: out.to_path_buf(),
        json: false,
    }
}

#[test]
fn train_and_eval_commands_on_the_bundled_subset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lenet.safetensors");
    let args = lenet_config(&out);
    let report = train::run(&args).unwrap();
    assert_eq!(report.params, 431_080);
    assert_eq!(report.flops, 2 * 2_293_000);
    assert_eq!(report.epochs_run, 1);
    assert!(
        report.test_accuracy > 0.3,
        "10 steps of LeNet-5 should beat chance: {}",
        report.test_accuracy
    );
    assert!(
        report
            .history
            .epochs
            .iter()
            .all(|e| e.test_accuracy.is_none()),
        "the test split was scored per epoch without --print-test"
    );
    assert!(out.exists() && train::report_path(&out).exists());
    assert!(
        !Checkpoint::beside(&out).file.exists() && !train::checkpoint_dir(&out).exists(),
        "the checkpoint is removed after success"
    );
    let file = std::fs::read(&out).unwrap();
    let parsed = deepiot_format::parse(&file).unwrap();
    assert_eq!(parsed.provenance["task"], "mnist-lenet5");
    assert_eq!(parsed.graph.classes.len(), 10);

    let eval_with = |model: &std::path::Path, engine| {
        train::eval(&train::EvalConfig {
            model: model.to_path_buf(),
            task: None,
            data: Some(bundled_dir()),
            label_column: "label".into(),
            json: true,
            engine,
        })
        .unwrap()
    };
    let acc = eval_with(&out, train::Engine::Auto);
    assert!(
        (acc - report.test_accuracy).abs() < 1e-9,
        "eval {acc} vs train report {}",
        report.test_accuracy
    );
    // The board runtime's library scores the same file alike (f32 sums in another order
    // may flip an example that sits on a tie, no more).
    let acc_rt = eval_with(&out, train::Engine::Runtime);
    assert!(
        (acc_rt - acc).abs() <= 3e-3,
        "runtime {acc_rt} vs candle {acc}"
    );
    // Its int8 file: `auto` scores it in the runtime, within a point of the f32 model.
    let q = dir.path().join("lenet5.int8.safetensors");
    deepiot::quantize::run(&deepiot::quantize::QuantizeConfig {
        model: out.clone(),
        out: q.clone(),
    })
    .unwrap();
    let acc_q = eval_with(&q, train::Engine::Auto);
    assert_eq!(acc_q, eval_with(&q, train::Engine::Runtime));
    assert!((acc_q - acc).abs() <= 0.01, "int8 {acc_q} vs f32 {acc}");

    // --init continues from the file (its graph, its weights), --teacher distils from it
    // (here an ensemble of two copies, on mixup blends).
    let student = dir.path().join("student.safetensors");
    let more = train::TrainConfig {
        init: Some(dir.path().join("lenet.safetensors")),
        teacher: vec![dir.path().join("lenet.safetensors"); 2],
        mixup: Some(0.4),
        augment: "shift".into(),
        out: student.clone(),
        ..args.clone()
    };
    let again = train::run(&more).unwrap();
    assert_eq!(again.params, 431_080);
    let prov = deepiot_format::parse(&std::fs::read(&student).unwrap())
        .unwrap()
        .provenance;
    assert!(prov["teacher"].ends_with("lenet.safetensors"));
    assert_eq!(prov["mixup"], "0.4");
    assert!(
        again.test_accuracy >= report.test_accuracy - 0.05,
        "10 more distilled steps from the trained weights lost accuracy: {} -> {}",
        report.test_accuracy,
        again.test_accuracy
    );
}

/// `--reinit` keeps the `--init` model's layers but not its weights; without it the weights
/// are the file's. A learning rate of 0 leaves every weight where training started.
#[test]
fn reinit_keeps_the_layers_and_draws_fresh_weights() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.safetensors");
    let base = train::TrainConfig {
        lr: Some(0.0),
        val_fraction: 0.0,
        augment: "none".into(),
        max_train: Some(64),
        max_steps: Some(1),
        ..lenet_config(&first)
    };
    train::run(&base).unwrap();
    let weights = |path: &std::path::Path| {
        let bytes = std::fs::read(path).unwrap();
        let parsed = deepiot_format::parse(&bytes).unwrap();
        let conv1 = parsed.tensor_f32("conv1.weight").unwrap();
        (parsed.graph.clone(), conv1)
    };
    let (graph, original) = weights(&first);
    for (reinit, seed) in [(false, 1), (true, 2)] {
        let out = dir.path().join(format!("again-{reinit}.safetensors"));
        train::run(&train::TrainConfig {
            init: Some(first.clone()),
            reinit,
            seed,
            out: out.clone(),
            ..base.clone()
        })
        .unwrap();
        let (g, w) = weights(&out);
        assert_eq!(g.nodes.len(), graph.nodes.len());
        assert_eq!(w.len(), original.len());
        assert_eq!(w == original, !reinit, "reinit {reinit}");
    }
}

#[test]
fn distillation_loss_is_the_label_loss_at_alpha_zero_and_zero_kl_for_a_copy() {
    let net = std::sync::Arc::new(Net::new(&graph(), 5).unwrap());
    let ds = data();
    let idx: Vec<usize> = (0..16).collect();
    let x = train::gather(&ds.train_x, &ds.shape, &idx, net.device()).unwrap();
    let y = train::gather_labels(&ds.train_y, &idx, net.device()).unwrap();
    let logits = net.logits(&[&x], false).unwrap();
    let ce = candle_nn::loss::cross_entropy(&logits, &y)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let d = |alpha: f32| train::Distill::new(vec![net.clone()], 4.0, alpha);
    let at = |alpha: f32| -> f32 {
        d(alpha)
            .loss(&x, &logits, &y)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert!((at(0.0) - ce).abs() < 1e-5, "{} vs {ce}", at(0.0));
    // The student is the teacher: the KL term vanishes, only (1 - alpha) * CE remains.
    assert!(
        (at(0.7) - 0.3 * ce).abs() < 1e-4,
        "{} vs {}",
        at(0.7),
        0.3 * ce
    );
}

/// The teacher's remembered answers are the ones it gives: a batch half of which it was
/// asked before, then the same batch again (all remembered), give the loss of a
/// distillation that asks every time, and a different batch a different loss.
#[test]
fn remembered_teacher_answers_match_asking_again() {
    let teacher = std::sync::Arc::new(Net::new(&graph(), 5).unwrap());
    let student = Net::new(&graph(), 6).unwrap();
    let ds = data();
    let idx: Vec<usize> = (0..16).collect();
    let x = train::gather(&ds.train_x, &ds.shape, &idx, student.device()).unwrap();
    let y = train::gather_labels(&ds.train_y, &idx, student.device()).unwrap();
    let logits = student.logits(&[&x], false).unwrap();
    let asking = train::Distill {
        memo: None,
        ..train::Distill::new(vec![teacher.clone()], 4.0, 0.7)
    };
    let remembering = train::Distill::new(vec![teacher], 4.0, 0.7);
    let loss = |d: &train::Distill, x: &candle_core::Tensor, l: &candle_core::Tensor, y| {
        d.loss(x, l, y).unwrap().to_scalar::<f32>().unwrap()
    };
    let half = |t: &candle_core::Tensor| t.narrow(0, 0, 8).unwrap();
    let (hx, hl, hy) = (half(&x), half(&logits), half(&y));
    let first = loss(&remembering, &hx, &hl, &hy);
    assert_eq!(first, loss(&asking, &hx, &hl, &hy));
    let truth = loss(&asking, &x, &logits, &y);
    let partly = loss(&remembering, &x, &logits, &y);
    let again = loss(&remembering, &x, &logits, &y);
    assert!((partly - truth).abs() < 1e-6, "{partly} vs {truth}");
    assert!((again - truth).abs() < 1e-6, "{again} vs {truth}");
    assert_eq!(remembering.memo.as_ref().unwrap().len(), 16);
    let other = |t: &candle_core::Tensor| t.narrow(0, 8, 8).unwrap();
    assert_ne!(
        first,
        loss(&remembering, &other(&x), &other(&logits), &other(&y))
    );
}

/// Two teachers are distilled as one whose probabilities are their mean: a student that
/// outputs exactly that mean (at temperature T) has no KL term left, and the same student
/// against either teacher alone has one.
#[test]
fn an_ensemble_of_teachers_is_the_mean_of_their_probabilities() {
    let a = std::sync::Arc::new(Net::new(&graph(), 5).unwrap());
    let b = std::sync::Arc::new(Net::new(&graph(), 6).unwrap());
    let ds = data();
    let idx: Vec<usize> = (0..16).collect();
    let x = train::gather(&ds.train_x, &ds.shape, &idx, a.device()).unwrap();
    let y = train::gather_labels(&ds.train_y, &idx, a.device()).unwrap();
    let t = 4.0f64;
    let soft = |n: &Net| {
        candle_nn::ops::softmax_last_dim(&(n.logits(&[&x], false).unwrap() / t).unwrap()).unwrap()
    };
    let mean = ((soft(&a) + soft(&b)).unwrap() / 2.0).unwrap();
    let student = (mean.log().unwrap() * t).unwrap();
    let kl = |teachers: Vec<std::sync::Arc<Net>>| -> f32 {
        train::Distill::new(teachers, t as f32, 1.0)
            .loss(&x, &student, &y)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let both = kl(vec![a.clone(), b.clone()]);
    assert!(both.abs() < 1e-4, "KL to the ensemble mean: {both}");
    for (name, one) in [("a", kl(vec![a.clone()])), ("b", kl(vec![b.clone()]))] {
        assert!(one > 1e-3 + both, "KL to teacher {name} alone: {one}");
    }
}

/// Mixup blends every example with one partner of the same batch, by the same weight,
/// and carries the partner's label along.
#[test]
fn mixup_blends_each_example_with_one_partner_and_its_label() {
    let n = 8;
    let eye: Vec<f32> = (0..n * n).map(|i| (i / n == i % n) as u8 as f32).collect();
    let x = candle_core::Tensor::from_vec(eye, (n, n), &candle_core::Device::Cpu).unwrap();
    let labels: Vec<u32> = (0..n as u32).map(|i| 100 + i).collect();
    let y = candle_core::Tensor::new(labels.as_slice(), &candle_core::Device::Cpu).unwrap();
    let mut rng = Rng::new(3);
    let mut lambdas = Vec::new();
    for _ in 0..20 {
        let (blend, m) = train::Mixing::draw(&x, &y, 0.4, &mut rng).unwrap();
        let rows = blend.to_vec2::<f32>().unwrap();
        let other = m.other.to_vec1::<u32>().unwrap();
        let mut partners: Vec<u32> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let j = (other[i] - 100) as usize;
            partners.push(j as u32);
            for (k, v) in row.iter().enumerate() {
                let want =
                    m.lambda * (k == i) as u8 as f64 + (1.0 - m.lambda) * (k == j) as u8 as f64;
                assert!(
                    (*v as f64 - want).abs() < 1e-6,
                    "row {i} col {k}: {v} vs {want}"
                );
            }
        }
        partners.sort();
        assert_eq!(
            partners,
            (0..n as u32).collect::<Vec<_>>(),
            "partners are a permutation"
        );
        lambdas.push(m.lambda);
    }
    // Beta(0.4, 0.4) puts most of its weight near 0 and 1, and the draws differ.
    assert!(lambdas.iter().all(|l| (0.0..=1.0).contains(l)));
    assert!(lambdas.iter().any(|&l| !(0.2..=0.8).contains(&l)));
    assert!(lambdas.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn dropout_only_acts_in_training_and_is_seeded() {
    let x = candle_core::Tensor::from_vec(
        (0..60)
            .map(|i| (i as f32 / 7.0).sin())
            .collect::<Vec<f32>>(),
        (10, 6),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let out = |net: &Net, train: bool| -> Vec<f32> {
        net.forward(&[&x], train)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let plain = Net::new(&graph(), 1).unwrap();
    let a = Net::new(&graph(), 1).unwrap();
    a.set_dropout(0.5, 7);
    assert_eq!(a.dropout(), Some(0.5));
    assert_eq!(
        out(&a, false),
        out(&plain, false),
        "inference ignores dropout"
    );
    assert_ne!(out(&a, true), out(&plain, true), "training applies it");
    let b = Net::new(&graph(), 1).unwrap();
    b.set_dropout(0.5, 7);
    a.set_dropout(0.5, 7);
    assert_eq!(out(&a, true), out(&b, true), "same seed, same masks");
    a.set_dropout(0.0, 7);
    assert_eq!(a.dropout(), None);
}

#[test]
fn accelerometer_validation_is_the_tail_of_every_run() {
    let mut ds = data();
    ds.name = "userid".into();
    ds.train_y = [vec![0u32; 20], vec![1; 10], vec![0; 10]].concat();
    ds.train_x = vec![0.0; ds.train_y.len() * 6];
    let (train, val) = train::validation_split(&ds, 0.1, 1);
    assert_eq!(val, vec![18, 19, 29, 39]);
    // The window before each validation block is in neither split.
    assert!(!train.contains(&17) && !train.contains(&28) && !train.contains(&38));
    assert_eq!(train.len() + val.len() + 3, 40);
    // Other data sets: a seeded random sample.
    ds.name = "mnist".into();
    let (t2, v2) = train::validation_split(&ds, 0.1, 1);
    assert_eq!((t2.len(), v2.len()), (36, 4));
}

/// The test split is scored per epoch only with `--print-test`, and it changes nothing
/// else: the same epochs, the same weights.
#[test]
fn print_test_only_adds_the_test_scores() {
    let quiet_net = Net::new(&graph(), 1).unwrap();
    let quiet = fit(&quiet_net, &data(), &opts(3, 1e-2, 10, None, false)).unwrap();
    let loud_net = Net::new(&graph(), 1).unwrap();
    let mut o = opts(3, 1e-2, 10, None, false);
    o.print_test = true;
    let loud = fit(&loud_net, &data(), &o).unwrap();
    assert!(quiet.epochs.iter().all(|e| e.test_accuracy.is_none()));
    assert!(loud.epochs.iter().all(|e| e.test_accuracy.is_some()));
    assert_eq!(loud.best_epoch, quiet.best_epoch);
    assert_eq!(loud_net.tensors().unwrap(), quiet_net.tensors().unwrap());
}
