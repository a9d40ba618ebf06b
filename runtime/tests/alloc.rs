//! `Model::run` must never allocate: a counting global allocator (wrapping `System`) counts
//! every allocation and reallocation; after loading and one warm-up run, further runs must
//! leave the count unchanged. The models together contain every layer kind, in every
//! recurrent mode.
//!
//! The test harness and the other tests of this binary allocate on their own threads at any
//! time, so the counter only counts allocations made by a thread while it has switched
//! counting on for itself (a const thread-local flag, which itself never allocates), and
//! measurements take a lock so that only one thread counts at a time.
use deepiot_format::{reference, testing};
use deepiot_format::{Graph, Input, Op, Recurrent, SeqOutput};
use deepiot_runtime::Model;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether allocations of this thread are counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` with counting switched on for this thread; returns its result and the number
/// of allocations and reallocations it made.
fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let r = f();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(false));
    (r, after - before)
}

/// A model file with deterministic random weights for every tensor the graph declares.
fn model_file(graph: &Graph) -> Vec<u8> {
    testing::random_model(graph, 1)
}

/// Loads the model, runs once, then checks that ten more runs (single- and multi-input
/// entry points) allocate nothing.
fn assert_runs_without_allocating(name: &str, graph: &Graph) {
    assert_file_runs_without_allocating(name, &model_file(graph));
}

fn assert_file_runs_without_allocating(name: &str, bytes: &[u8]) {
    let mut model = Model::load(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let make = |shift: usize| -> Vec<Vec<f32>> {
        (0..model.input_count())
            .map(|i| {
                (0..model.input_len(i))
                    .map(|k| (((k + shift) * 7 % 13) as f32 - 6.0) / 4.0)
                    .collect()
            })
            .collect()
    };
    // Two different inputs, alternated, so that nothing could be cached between runs.
    let (a, b) = (make(0), make(5));
    let ins_a: Vec<&[f32]> = a.iter().map(|v| v.as_slice()).collect();
    let ins_b: Vec<&[f32]> = b.iter().map(|v| v.as_slice()).collect();
    let mut outputs: Vec<Vec<f32>> = (0..model.output_count())
        .map(|i| vec![0.0; model.output_len(i)])
        .collect();
    let mut outs: Vec<&mut [f32]> = outputs.iter_mut().map(|v| v.as_mut_slice()).collect();
    model.run_multi(&ins_a, &mut outs).expect("warm-up run");

    let ((), made) = counted(|| {
        for round in 0..10 {
            let ins = if round % 2 == 0 { &ins_b } else { &ins_a };
            if ins.len() == 1 && outs.len() == 1 {
                model.run(ins[0], outs[0]).expect("run");
            } else {
                model.run_multi(ins, &mut outs).expect("run_multi");
            }
        }
    });
    assert_eq!(made, 0, "{name}: ten runs made {made} heap allocation(s)");
    drop(outs);
    assert!(
        outputs.iter().flatten().all(|v| v.is_finite()),
        "{name}: outputs are finite"
    );
}

#[test]
fn the_counter_counts() {
    // Proves that this test file can fail: a real allocation moves the counter.
    let (v, one) = counted(|| std::hint::black_box(Vec::<u64>::with_capacity(100)));
    assert_eq!(one, 1, "a Vec::with_capacity must count as one allocation");
    let (w, two) = counted(|| {
        let mut w = std::hint::black_box(vec![1u8; 10]);
        w.extend_from_slice(&[2u8; 1000]);
        w
    });
    assert_eq!(two, 2, "vec! and its growth (a realloc) must count");
    let (_, none) = counted(|| std::hint::black_box(v.len() + w.len()));
    assert_eq!(none, 0, "arithmetic does not allocate");
}

#[test]
fn loading_allocates_but_the_counter_sees_it() {
    let mut g = Graph::new("x", &[5]);
    g.push("fc", Op::Dense { units: 3 });
    let bytes = model_file(&g);
    let (model, made) = counted(|| Model::load(&bytes).expect("load"));
    assert!(made > 0, "loading allocates weights and arena");
    drop(model);
}

#[test]
fn convolutional_model_runs_without_allocating() {
    let mut g = Graph::new("x", &[2, 14, 13]);
    g.push("c2", Op::conv2d(5, [3, 3], [1, 1], [1, 1]));
    g.push("pw", Op::conv2d(4, [1, 1], [1, 1], [0, 0]));
    g.push("mp2", Op::max_pool2d([2, 2], [2, 2])); // [4, 7, 6]
    g.push("ap2", Op::avg_pool2d([2, 2], [1, 1])); // [4, 6, 5]
    g.push("relu", Op::Relu);
    g.push("r", Op::Reshape { shape: vec![4, 30] });
    g.push("c1", Op::conv1d(3, 3, 2, 2)); // [3, 16]
    g.push("mp1", Op::max_pool1d(2, 2)); // [3, 8]
    g.push("ap1", Op::avg_pool1d(3, 1)); // [3, 6]
    g.push("tanh", Op::Tanh);
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 10 });
    g.push("sig", Op::Sigmoid);
    g.push("sm", Op::Softmax);
    assert_runs_without_allocating("conv model", &g);
}

#[test]
fn recurrent_models_run_without_allocating() {
    for bidirectional in [false, true] {
        for output in [SeqOutput::Sequence, SeqOutput::Last, SeqOutput::Mean] {
            for lstm in [false, true] {
                let r = Recurrent::new(6, bidirectional, output);
                let mut g = Graph::new("x", &[9, 4]);
                g.push("rnn", if lstm { Op::Lstm(r) } else { Op::Gru(r) });
                g.push("fc", Op::Dense { units: 3 });
                assert_runs_without_allocating(
                    &format!("lstm={lstm} bi={bidirectional} {output:?}"),
                    &g,
                );
            }
        }
    }
}

#[test]
fn branched_multi_input_model_runs_without_allocating() {
    let mut g = Graph::new("acc", &[3, 12]);
    g.inputs.push(Input {
        name: "gyro".into(),
        shape: vec![12, 3],
    });
    g.push_from("ca", &["acc"], Op::conv1d(4, 3, 1, 1)); // [4, 12]
    g.push_from("gt", &["gyro"], Op::Permute { perm: vec![1, 0] }); // [3, 12]
    g.push_from("cat", &["ca", "gt", "acc"], Op::Concat { axis: 0 }); // [10, 12]
    g.push_from("seq", &["cat"], Op::Permute { perm: vec![1, 0] }); // [12, 10]
    g.push_from(
        "gru",
        &["seq"],
        Op::Gru(Recurrent::new(5, true, SeqOutput::Sequence)),
    ); // [12, 10]
    g.push_from("cat2", &["gru", "seq"], Op::Concat { axis: 1 }); // [12, 20]
    g.push("lstm", Op::Lstm(Recurrent::new(4, false, SeqOutput::Mean)));
    g.push("fc", Op::Dense { units: 2 });
    g.outputs = vec!["fc".into(), "cat".into()];
    assert_runs_without_allocating("branched two-input model", &g);
}

#[test]
fn reference_models_run_without_allocating() {
    // LeNet-5 (the largest model in the golden set) and the other reference graphs.
    for (name, g) in [
        ("lenet5", reference::lenet5_mnist()),
        ("deepsense_gru", reference::deepsense_gru()),
        ("bilstm", reference::bilstm()),
        ("branched", reference::branched()),
    ] {
        assert_runs_without_allocating(name, &g);
    }
}

#[test]
fn sparse_models_run_without_allocating() {
    // Every layer with a weight matrix, stored sparse: dense (one row and several),
    // convolutions (im2col and pointwise), GRU and LSTM in both directions.
    let mut g = Graph::new("x", &[2, 10, 9]);
    g.push("c2", Op::conv2d(5, [3, 3], [1, 1], [1, 1]));
    g.push("pw", Op::conv2d(4, [1, 1], [1, 1], [0, 0])); // [4, 10, 9]
    g.push("r", Op::Reshape { shape: vec![4, 90] });
    g.push("c1", Op::conv1d(6, 5, 3, 1)); // [6, 30]
    g.push("seq", Op::Permute { perm: vec![1, 0] }); // [30, 6]
    g.push("rows", Op::Dense { units: 7 }); // [30, 7]
    g.push("gru", Op::Gru(Recurrent::new(5, true, SeqOutput::Sequence)));
    g.push("lstm", Op::Lstm(Recurrent::new(4, true, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    // Every weight matrix 90 % zeros and stored sparse (CSR).
    let bytes = testing::random_sparse_model(&g, 2, 0.9);
    let file = deepiot_format::parse(&bytes).expect("valid sparse file");
    assert_eq!(
        file.sparse_names().count(),
        13,
        "every weight matrix is sparse"
    );
    assert_file_runs_without_allocating("sparse model", &bytes);
}
