//! Mutation fuzzing of the loader with proptest: valid model files (a small conv net, a GRU,
//! a bidirectional LSTM, a branched concat net, a net with sparse CSR weights) get random bytes flipped, overwritten,
//! inserted, deleted or cut off, or numbers in their JSON header replaced by hostile ones
//! (with the length field fixed up so that the header still parses). `Model::load` must
//! never panic; when it accepts a file, `run` on zero inputs must not panic either (the
//! outputs may be anything, NaN included).
//!
//! The runs are deterministic (a fixed proptest seed) so that CI is repeatable; a failure
//! is shrunk to a minimal list of mutations and printed.
use deepiot_format::testing;
use deepiot_format::{Graph, Op, Recurrent, SeqOutput};
use deepiot_runtime::Model;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::cell::Cell;

/// Random-byte, header-number and weight-value cases per model (five models: 85,000 loads).
const BYTE_CASES: u32 = 10_000;
const NUMBER_CASES: u32 = 6_000;
const VALUE_CASES: u32 = 1_000;

const HOSTILE_FLOATS: &[f32] = &[
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::MAX,
    f32::MIN,
    f32::MIN_POSITIVE,
    1e-45,
    -0.0,
    1e30,
    -1e30,
];

/// Accepted files whose inference would be too big for a quick test are loaded (which is
/// what is under test) but not run.
const MAX_RUN_MACS: u64 = 20_000_000;
const MAX_RUN_ARENA_BYTES: usize = 64 << 20;

fn model_file(graph: &Graph) -> Vec<u8> {
    testing::random_model(graph, 1)
}

fn conv_model() -> Vec<u8> {
    let mut g = Graph::new("x", &[2, 12, 10]);
    g.push("conv", Op::conv2d(3, [3, 3], [1, 1], [1, 1]));
    g.push("relu", Op::Relu);
    g.push("pool", Op::max_pool2d([2, 2], [2, 2]));
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 4 });
    model_file(&g)
}

fn gru_model() -> Vec<u8> {
    let mut g = Graph::new("x", &[8, 5]);
    g.push("gru", Op::Gru(Recurrent::new(6, false, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    g.push("sm", Op::Softmax);
    model_file(&g)
}

fn bilstm_model() -> Vec<u8> {
    let mut g = Graph::new("x", &[7, 4]);
    g.push(
        "lstm",
        Op::Lstm(Recurrent::new(5, true, SeqOutput::Sequence)),
    );
    g.push("tanh", Op::Tanh);
    g.push("flat", Op::Flatten);
    g.push("fc", Op::Dense { units: 2 });
    model_file(&g)
}

fn concat_model() -> Vec<u8> {
    let mut g = Graph::new("x", &[3, 16]);
    let conv = |o, k, p| Op::conv1d(o, k, 1, p);
    g.push_from("a", &["x"], conv(4, 3, 1));
    g.push_from("b", &["x"], conv(2, 5, 2));
    g.push_from("cat", &["a", "b", "x"], Op::Concat { axis: 0 });
    g.push("pool", Op::avg_pool1d(2, 2));
    g.push("perm", Op::Permute { perm: vec![1, 0] });
    g.push("sig", Op::Sigmoid);
    g.push("r", Op::Reshape { shape: vec![72] });
    g.push("fc", Op::Dense { units: 3 });
    model_file(&g)
}

/// A conv + GRU + dense net with every weight matrix 80 % zeros and stored sparse: the
/// CSR row pointers and column indices are what a mutation must not turn into an
/// out-of-bounds read.
fn sparse_model() -> Vec<u8> {
    let mut g = Graph::new("x", &[2, 12]);
    g.push("conv", Op::conv1d(4, 3, 1, 1)); // [4, 12]
    g.push("perm", Op::Permute { perm: vec![1, 0] }); // [12, 4]
                                                      // Big enough that most of the file is data, as in the other models.
    g.push("gru", Op::Gru(Recurrent::new(16, true, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 });
    testing::random_sparse_model(&g, 2, 0.8)
}

/// A conv + GRU + dense net with every weight matrix int8 (rows long enough that every
/// layer runs the int8 kernels): the values, the scales and the int8 list are what a
/// mutation must not turn into a panic or an overflowing sum.
fn int8_model() -> Vec<u8> {
    let mut g = Graph::new("x", &[8, 12]);
    g.push("conv", Op::conv1d(8, 4, 1, 1)); // [8, 11], rows of 32
    g.push("perm", Op::Permute { perm: vec![1, 0] }); // [11, 8]
    g.push("gru", Op::Gru(Recurrent::new(16, true, SeqOutput::Last)));
    g.push("fc", Op::Dense { units: 3 }); // rows of 32
    testing::quant_model_file(&g, &testing::random_weights(&g, 3))
}

/// Loads `bytes`; if that succeeds, runs the model on zeros (when small enough) and checks
/// that wrongly sized arguments are refused rather than trusted.
/// Returns whether the model was run.
fn load_and_run(bytes: &[u8]) -> bool {
    let Ok(mut model) = Model::load(bytes) else {
        return false;
    };
    if model.macs() > MAX_RUN_MACS || model.arena_bytes() > MAX_RUN_ARENA_BYTES {
        return false;
    }
    let inputs: Vec<Vec<f32>> = (0..model.input_count())
        .map(|i| vec![0.0; model.input_len(i)])
        .collect();
    let mut outputs: Vec<Vec<f32>> = (0..model.output_count())
        .map(|i| vec![0.0; model.output_len(i)])
        .collect();
    let ins: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
    let mut outs: Vec<&mut [f32]> = outputs.iter_mut().map(|v| v.as_mut_slice()).collect();
    model
        .run_multi(&ins, &mut outs)
        .expect("arguments sized as the model says are accepted");
    if let Some(first) = inputs.first() {
        let mut longer = first.clone();
        longer.push(0.0);
        let mut others: Vec<&[f32]> = ins.clone();
        others[0] = &longer;
        assert!(model.run_multi(&others, &mut outs).is_err());
    }
    true
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Overwrite(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Overwrite(i, v)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

/// Where a mutation lands: anywhere, or (half the time) in the first `header_bias` bytes,
/// the length field and JSON header, where a change is most likely to matter.
fn position(i: &Index, len: usize, header: usize, in_header: bool) -> usize {
    if in_header && header > 0 {
        i.index(header.min(len).max(1))
    } else {
        i.index(len.max(1))
    }
}

fn apply(file: &[u8], muts: &[(Mutation, bool)]) -> Vec<u8> {
    let header = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let mut b = file.to_vec();
    for (m, in_header) in muts {
        if b.is_empty() {
            break;
        }
        let len = b.len();
        match m {
            Mutation::FlipBit(i, bit) => b[position(i, len, header, *in_header)] ^= 1 << bit,
            Mutation::Overwrite(i, v) => b[position(i, len, header, *in_header)] = *v,
            Mutation::Truncate(i) => b.truncate(position(i, len, header, *in_header)),
            Mutation::Insert(i, v) => {
                let at = position(i, len, header, *in_header);
                b.splice(at..at, v.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = position(i, len, header, *in_header);
                b.drain(at..(at + n).min(len));
            }
        }
    }
    b
}

/// Numbers a hostile header might hold (as text, including ones that are not integers).
const HOSTILE_NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "255",
    "1023",
    "65535",
    "65536",
    "16777215",
    "16777216",
    "16777217",
    "67108864",
    "2147483648",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "-1",
    "1e3",
    "1.5",
    "",
];

/// Replaces the `which`-th (modulo their number) run of digits in the JSON header (graph sizes, kernels, axes,
/// tensor shapes and data offsets all are such runs) and fixes the length field.
fn replace_number(file: &[u8], which: usize, with: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = &file[8..8 + n];
    let mut runs = Vec::new();
    let mut i = 0;
    while i < header.len() {
        if header[i].is_ascii_digit() {
            let start = i;
            while i < header.len() && header[i].is_ascii_digit() {
                i += 1;
            }
            runs.push(start..i);
        } else {
            i += 1;
        }
    }
    let r = runs[which % runs.len()].clone();
    let mut h = header[..r.start].to_vec();
    h.extend_from_slice(with.as_bytes());
    h.extend_from_slice(&header[r.end..]);
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&file[8 + n..]);
    out
}

/// Where the data's free f32 values start, in bytes from the start of the data: every
/// value of a dense file; in a sparse one not the CSR index arrays, and in an int8 one not
/// the values and scales (their corruption is the byte mutations' to cover: a scale must
/// be finite and positive). Read from the header our writer produces:
/// `"NAME":{"dtype":"F32",...,"data_offsets":[a,b]}`.
fn f32_words(file: &[u8]) -> Vec<usize> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&file[8..8 + n]).unwrap();
    let mut words = Vec::new();
    let pieces: Vec<&str> = header.split("{\"dtype\":\"").collect();
    for (before, entry) in pieces.iter().zip(&pieces[1..]) {
        if !entry.starts_with("F32\"") || before.ends_with(".scale\":") {
            continue;
        }
        let offsets = entry.split("\"data_offsets\":[").nth(1).unwrap();
        let offsets = &offsets[..offsets.find(']').unwrap()];
        let (a, b) = offsets.split_once(',').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        words.extend((a..b).step_by(4));
    }
    assert!(!words.is_empty());
    words
}

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

fn fuzz(name: &str, file: Vec<u8>) {
    fuzz_with(name, file, BYTE_CASES / 20);
}

/// [`fuzz`], requiring at least `min_ran` byte mutants to load and run.
fn fuzz_with(name: &str, file: Vec<u8>, min_ran: u32) {
    load_and_run(&file);
    Model::load(&file).unwrap_or_else(|e| panic!("{name}: the unmutated file must load: {e}"));

    let byte_mutations = prop::collection::vec((mutation(), any::<bool>()), 1..5);
    let ran = Cell::new(0u32);
    runner(BYTE_CASES)
        .run(&byte_mutations, |muts| {
            ran.set(ran.get() + load_and_run(&apply(&file, &muts)) as u32);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}, byte mutations: {e}"));
    // Not vacuous: mutants in the weights load and run.
    assert!(
        ran.get() > min_ran,
        "{name}: only {} mutants ran",
        ran.get()
    );

    let number_mutations = prop::collection::vec(
        (any::<usize>(), prop::sample::select(HOSTILE_NUMBERS)),
        1..4,
    );
    runner(NUMBER_CASES)
        .run(&number_mutations, |muts| {
            let mut b = file.clone();
            for (which, with) in &muts {
                b = replace_number(&b, *which, with);
            }
            ran.set(ran.get() + load_and_run(&b) as u32);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}, number mutations: {e}"));

    // Hostile weight values (NaN, infinities, huge, subnormal): the file stays valid, so
    // every case runs.
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let words = f32_words(&file);
    // Word numbers drawn as before (`0..words`), so that the dense models' cases are the
    // ones they always were.
    let value_mutations =
        prop::collection::vec((0..words.len(), prop::sample::select(HOSTILE_FLOATS)), 1..6);
    let before = ran.get();
    runner(VALUE_CASES)
        .run(&value_mutations, |muts| {
            let mut b = file.clone();
            for (k, v) in &muts {
                let at = 8 + n + words[*k];
                b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            ran.set(ran.get() + load_and_run(&b) as u32);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}, weight values: {e}"));
    assert_eq!(
        ran.get() - before,
        VALUE_CASES,
        "{name}: every weight mutant runs"
    );
    eprintln!(
        "{name}: {} of {} mutants loaded and ran",
        ran.get(),
        BYTE_CASES + NUMBER_CASES + VALUE_CASES
    );
}

#[test]
fn fuzz_conv_model() {
    fuzz("conv", conv_model());
}

#[test]
fn fuzz_gru_model() {
    fuzz("gru", gru_model());
}

#[test]
fn fuzz_bilstm_model() {
    fuzz("bilstm", bilstm_model());
}

#[test]
fn fuzz_concat_model() {
    fuzz("concat", concat_model());
}

#[test]
fn fuzz_sparse_model() {
    // Half of a sparse file's data is CSR indices, and nearly every change to those is
    // (rightly) refused, so fewer byte mutants survive than in the dense models.
    fuzz_with("sparse", sparse_model(), BYTE_CASES / 40);
}

#[test]
fn fuzz_int8_model() {
    // A fifth of the data is scales, and a mutated scale is (rightly) refused more often
    // than a mutated f32 weight, as for the sparse model's indices.
    fuzz_with("int8", int8_model(), BYTE_CASES / 40);
}

#[test]
fn number_mutations_reach_the_graph_checks() {
    // The number mutator is worth its cases only if it produces files that get past the
    // container into the graph and tensor checks, and some that still load.
    let file = gru_model();
    let (mut deeper, mut accepted) = (0, 0);
    for k in 0..200 {
        for with in ["0", "3", "16777217", "4294967296"] {
            match Model::load(&replace_number(&file, k, with)) {
                Ok(_) => accepted += 1,
                Err(deepiot_runtime::LoadError::Format(
                    deepiot_format::FormatError::Container(_),
                )) => {}
                Err(_) => deeper += 1,
            }
        }
    }
    assert!(
        deeper > 10,
        "only {deeper} mutants reached the graph checks"
    );
    assert!(accepted > 0, "no mutant loaded");
}
