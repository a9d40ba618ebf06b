//! Hostile and broken model files: each must be rejected with its own specific error, and
//! nothing may panic. The files are built byte by byte with the small safetensors writer
//! below (8-byte little-endian header length, JSON header, data), so they can lie in ways
//! no well-behaved writer would.
use deepiot_format::{write, FormatError, Graph, Node, Op, Recurrent, SeqOutput, TensorData};
use deepiot_runtime::{LoadError, Model, RunError};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// A minimal safetensors writer that will write anything.

/// JSON string literal (with quotes) for `s`.
fn js(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One header entry. Numbers are u128 so that they can exceed every integer type the
/// reader uses.
struct Entry {
    name: String,
    dtype: String,
    shape: Vec<u128>,
    offsets: [u128; 2],
}

fn entry(name: &str, dtype: &str, shape: &[u128], offsets: [u128; 2]) -> Entry {
    Entry {
        name: name.into(),
        dtype: dtype.into(),
        shape: shape.to_vec(),
        offsets,
    }
}

/// The JSON header: optional `__metadata__` (string to string), then the entries.
fn header(meta: Option<&[(&str, &str)]>, entries: &[Entry]) -> String {
    let mut parts = Vec::new();
    if let Some(meta) = meta {
        let kv: Vec<String> = meta
            .iter()
            .map(|(k, v)| format!("{}:{}", js(k), js(v)))
            .collect();
        parts.push(format!("\"__metadata__\":{{{}}}", kv.join(",")));
    }
    for e in entries {
        let shape: Vec<String> = e.shape.iter().map(|d| d.to_string()).collect();
        parts.push(format!(
            "{}:{{\"dtype\":{},\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            js(&e.name),
            js(&e.dtype),
            shape.join(","),
            e.offsets[0],
            e.offsets[1]
        ));
    }
    format!("{{{}}}", parts.join(","))
}

/// A container whose length field says `len`, whatever the header really is.
fn container_with_len(len: u64, header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(data);
    out
}

fn container(header: &str, data: &[u8]) -> Vec<u8> {
    container_with_len(header.len() as u64, header.as_bytes(), data)
}

// ---------------------------------------------------------------------------------------
// A small valid model (x [3] -> dense 2), written by hand, to corrupt one part at a time.

fn base_graph() -> Graph {
    let mut g = Graph::new("x", &[3]);
    g.push("fc", Op::Dense { units: 2 });
    g
}

/// fc.bias [2] then fc.weight [2, 3], 32 bytes of data.
fn base_entries() -> Vec<Entry> {
    vec![
        entry("fc.bias", "F32", &[2], [0, 8]),
        entry("fc.weight", "F32", &[2, 3], [8, 32]),
    ]
}

fn base_data() -> Vec<u8> {
    (0..8u32)
        .flat_map(|i| (i as f32 * 0.25).to_le_bytes())
        .collect()
}

/// A file with the given graph (as JSON) and the base tensors.
fn with_graph_json(graph_json: &str) -> Vec<u8> {
    container(
        &header(Some(&[("deepiot.graph", graph_json)]), &base_entries()),
        &base_data(),
    )
}

/// A file with the given graph and no tensors (for graphs that fail before tensors matter).
fn graph_only(g: &Graph) -> Vec<u8> {
    container(&header(Some(&[("deepiot.graph", &g.to_json())]), &[]), &[])
}

fn with_entries(entries: &[Entry], data: &[u8]) -> Vec<u8> {
    container(
        &header(Some(&[("deepiot.graph", &base_graph().to_json())]), entries),
        data,
    )
}

/// The format error `Model::load` returns for `bytes` (and checks its message is useful).
fn format_error(bytes: &[u8]) -> FormatError {
    match Model::load(bytes) {
        Err(LoadError::Format(e)) => {
            assert!(!e.to_string().is_empty(), "{e:?} has an empty message");
            e
        }
        Err(e) => panic!("expected a format error, got {e:?}"),
        Ok(_) => panic!("a malformed file was accepted"),
    }
}

/// The container error message `Model::load` returns for `bytes`.
fn container_error(bytes: &[u8]) -> String {
    match format_error(bytes) {
        FormatError::Container(msg) => msg,
        e => panic!("expected a container error, got {e:?}"),
    }
}

fn assert_container(bytes: &[u8], needle: &str) {
    let msg = container_error(bytes);
    assert!(
        msg.contains(needle),
        "container error `{msg}` does not mention `{needle}`"
    );
}

// ---------------------------------------------------------------------------------------
// The baselines are valid, so every failure below is caused by the one thing changed.

#[test]
fn baseline_files_are_valid() {
    let mut m = Model::load(&with_entries(&base_entries(), &base_data())).expect("hand-written");
    let mut y = [0.0f32; 2];
    m.run(&[1.0, 2.0, 3.0], &mut y).expect("runs");
    // bias [0, .25], weight rows [.5 .75 1] and [1.25 1.5 1.75].
    assert_eq!(y, [0.5 + 1.5 + 3.0, 0.25 + 1.25 + 3.0 + 5.25]);
    let w: Vec<f32> = (0..6).map(|i| i as f32).collect();
    let b = [0.0f32, 1.0];
    let bytes = write(
        &base_graph(),
        &BTreeMap::new(),
        &[
            TensorData {
                name: "fc.weight",
                shape: &[2, 3],
                values: &w,
            },
            TensorData {
                name: "fc.bias",
                shape: &[2],
                values: &b,
            },
        ],
    )
    .expect("writer");
    Model::load(&bytes).expect("written by deepiot_format::write");
}

// ---------------------------------------------------------------------------------------
// The container.

#[test]
fn empty_file() {
    assert_container(&[], "header too small");
}

#[test]
fn shorter_than_the_length_field() {
    for n in 1..8 {
        assert_container(&vec![0u8; n], "header too small");
    }
}

#[test]
fn truncated_at_every_length() {
    let full = with_entries(&base_entries(), &base_data());
    Model::load(&full).expect("the full file is valid");
    for cut in 0..full.len() {
        // Cut in the length field, in the header, at its end, in the data: all rejected.
        let msg = container_error(&full[..cut]);
        assert!(!msg.is_empty(), "cut at {cut}");
    }
    let header_end = full.len() - base_data().len();
    assert_container(&full[..4], "header too small");
    assert_container(&full[..20], "invalid header length");
    assert_container(&full[..header_end], "past the end");
    assert_container(&full[..full.len() - 1], "past the end");
}

#[test]
fn trailing_bytes_after_the_data() {
    let mut data = base_data();
    data.extend_from_slice(&[0, 0, 0, 0]);
    assert_container(&with_entries(&base_entries(), &data), "incomplete metadata");
}

#[test]
fn header_length_bigger_than_the_file() {
    let h = header(
        Some(&[("deepiot.graph", &base_graph().to_json())]),
        &base_entries(),
    );
    let data = base_data();
    let total = (h.len() + data.len()) as u64;
    // Past the end of the file.
    for lie in [total + 1, total + 1000, 1 << 20, 100_000_000] {
        assert_container(
            &container_with_len(lie, h.as_bytes(), &data),
            "invalid header length",
        );
    }
    // Within the file: the "header" then runs into the data, which is not JSON (nor
    // always UTF-8).
    for lie in [h.len() as u64 + 1, h.len() as u64 + 5, total] {
        assert_container(&container_with_len(lie, h.as_bytes(), &data), "invalid");
    }
}

#[test]
fn header_length_bigger_than_100_mb() {
    let h = header(
        Some(&[("deepiot.graph", &base_graph().to_json())]),
        &base_entries(),
    );
    for lie in [100_000_001u64, 1 << 32, u64::MAX / 2, u64::MAX] {
        assert_container(
            &container_with_len(lie, h.as_bytes(), &base_data()),
            "header too large",
        );
    }
}

#[test]
fn header_length_smaller_than_the_header() {
    let h = header(
        Some(&[("deepiot.graph", &base_graph().to_json())]),
        &base_entries(),
    );
    for lie in [0u64, 1, 2, 10, h.len() as u64 / 2, h.len() as u64 - 1] {
        assert_container(
            &container_with_len(lie, h.as_bytes(), &base_data()),
            "invalid JSON in header",
        );
    }
}

#[test]
fn header_is_not_utf8() {
    let mut h = header(
        Some(&[("deepiot.graph", &base_graph().to_json())]),
        &base_entries(),
    )
    .into_bytes();
    h[5] = 0xFF;
    h[6] = 0xFE;
    assert_container(
        &container_with_len(h.len() as u64, &h, &base_data()),
        "invalid UTF-8",
    );
    assert_container(
        &container_with_len(4, &[0xC3, 0x28, 0xA0, 0xA1], &[]),
        "invalid UTF-8",
    );
}

#[test]
fn header_is_not_json() {
    for text in [
        "hello, world",
        "{",
        "{\"a\":",
        "[1, 2, 3]",
        "null",
        "42",
        "{\"fc.bias\": 3}",
        "{\"fc.bias\": {\"dtype\": \"F32\"}}",
        "{\"fc.bias\": {\"dtype\": \"Q4\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
        "{\"fc.bias\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}",
        "{\"__metadata__\": {\"deepiot.graph\": 5}}",
    ] {
        assert_container(&container(text, &[0u8; 8]), "JSON");
    }
}

#[test]
fn data_offsets_past_the_end() {
    // The last tensor claims more data than the file has.
    let e = vec![
        entry("fc.bias", "F32", &[2], [0, 8]),
        entry("fc.weight", "F32", &[2, 3], [8, 32]),
        entry("fc.extra", "F32", &[4], [32, 48]),
    ];
    assert_container(&with_entries(&e, &base_data()), "past the end");
    // A tensor whose offsets lie far past the end.
    let e = vec![
        entry("fc.bias", "F32", &[2], [0, 8]),
        entry("fc.weight", "F32", &[2, 3], [1000, 1024]),
    ];
    assert_container(&with_entries(&e, &base_data()), "past the end");
    // Offsets near the top of the 64-bit range.
    let e = vec![
        entry("fc.bias", "F32", &[2], [0, 8]),
        entry(
            "fc.weight",
            "F32",
            &[2, 3],
            [u64::MAX as u128 - 24, u64::MAX as u128],
        ),
    ];
    assert_container(&with_entries(&e, &base_data()), "past the end");
}

#[test]
fn data_offsets_overlapping_gapped_or_reversed() {
    let cases = [
        // The bias overlaps the weight.
        vec![
            entry("fc.weight", "F32", &[2, 3], [0, 24]),
            entry("fc.bias", "F32", &[2], [16, 24]),
        ],
        // Both start at zero.
        vec![
            entry("fc.weight", "F32", &[2, 3], [0, 24]),
            entry("fc.bias", "F32", &[2], [0, 8]),
        ],
        // A gap between them.
        vec![
            entry("fc.bias", "F32", &[2], [0, 8]),
            entry("fc.weight", "F32", &[2, 3], [12, 36]),
        ],
        // End before start.
        vec![
            entry("fc.weight", "F32", &[2, 3], [0, 24]),
            entry("fc.bias", "F32", &[2], [24, 16]),
        ],
    ];
    for e in &cases {
        // Data long enough for every layout above, so only the offsets are wrong.
        let end = e.iter().map(|t| t.offsets[1]).max().unwrap_or(0).max(32) as usize;
        assert_container(&with_entries(e, &vec![0u8; end]), "invalid offset");
    }
}

#[test]
fn data_offsets_disagree_with_the_shape() {
    let e = vec![
        entry("fc.bias", "F32", &[2], [0, 4]),
        entry("fc.weight", "F32", &[2, 3], [4, 32]),
    ];
    assert_container(
        &with_entries(&e, &base_data()),
        "invalid shape, data type, or offset",
    );
}

#[test]
fn data_offsets_that_overflow_when_added_up() {
    // Eight byte tensors of 2^61 - 1 bytes each: every one is consistent on its own, but
    // the end of the last (2^64 - 8) plus the header length does not fit in 64 bits.
    let big: u128 = (1 << 61) - 1;
    let e: Vec<Entry> = (0..8u128)
        .map(|k| entry(&format!("t{k}"), "U8", &[big], [k * big, (k + 1) * big]))
        .collect();
    let msg = container_error(&with_entries(&e, &[]));
    assert!(
        msg.contains("past the end") || msg.contains("overflow"),
        "{msg}"
    );
    // Offsets beyond u64 are not numbers the reader accepts at all.
    let e = vec![entry("fc.bias", "F32", &[2], [0, 1 << 70])];
    container_error(&with_entries(&e, &base_data()));
}

#[test]
fn shapes_whose_byte_size_overflows() {
    // Sizes that are valid usize values (on this target) whose product, or whose product
    // with the bits per element, is not.
    let half: u128 = 1 << (usize::BITS / 2);
    let e = vec![entry("t", "F32", &[half, half], [0, 8])];
    assert_container(&with_entries(&e, &base_data()), "overflow");
    let e = vec![entry("t", "F64", &[usize::MAX as u128 / 4], [0, 8])];
    assert_container(&with_entries(&e, &base_data()), "overflow");
}

// ---------------------------------------------------------------------------------------
// Tensors against the graph.

#[test]
fn wrong_dtype() {
    for (dtype, bytes_per) in [
        ("F16", 2u128),
        ("I32", 4),
        ("F64", 8),
        ("BF16", 2),
        ("U8", 1),
    ] {
        let bias_end = 2 * bytes_per;
        let e = vec![
            entry("fc.bias", dtype, &[2], [0, bias_end]),
            entry("fc.weight", "F32", &[2, 3], [bias_end, bias_end + 24]),
        ];
        let data = vec![0u8; (bias_end + 24) as usize];
        assert_eq!(
            format_error(&with_entries(&e, &data)),
            FormatError::WrongDtype {
                tensor: "fc.bias".into(),
                dtype: dtype.into()
            },
            "{dtype}"
        );
    }
}

#[test]
fn wrong_tensor_shape() {
    for shape in [&[3u128, 2][..], &[6], &[1, 2, 3], &[2, 3, 1]] {
        let e = vec![
            entry("fc.bias", "F32", &[2], [0, 8]),
            entry("fc.weight", "F32", shape, [8, 32]),
        ];
        assert_eq!(
            format_error(&with_entries(&e, &base_data())),
            FormatError::WrongTensorShape {
                tensor: "fc.weight".into(),
                expected: vec![2, 3],
                found: shape.iter().map(|&d| d as usize).collect(),
            }
        );
    }
    // Same shape class, different size (the data agrees with the lie).
    let e = vec![
        entry("fc.bias", "F32", &[3], [0, 12]),
        entry("fc.weight", "F32", &[2, 3], [12, 36]),
    ];
    assert_eq!(
        format_error(&with_entries(&e, &[0u8; 36])),
        FormatError::WrongTensorShape {
            tensor: "fc.bias".into(),
            expected: vec![2],
            found: vec![3],
        }
    );
}

#[test]
fn missing_tensor() {
    let e = vec![entry("fc.weight", "F32", &[2, 3], [0, 24])];
    assert_eq!(
        format_error(&with_entries(&e, &base_data()[..24])),
        FormatError::MissingTensor("fc.bias".into())
    );
    // Present under a near-miss name.
    let e = vec![
        entry("fc.bias", "F32", &[2], [0, 8]),
        entry("fc.weights", "F32", &[2, 3], [8, 32]),
    ];
    assert_eq!(
        format_error(&with_entries(&e, &base_data())),
        FormatError::MissingTensor("fc.weight".into())
    );
}

#[test]
fn unexpected_extra_tensor() {
    let mut e = base_entries();
    e.push(entry("extra", "F32", &[1], [32, 36]));
    let mut data = base_data();
    data.extend_from_slice(&1.0f32.to_le_bytes());
    assert_eq!(
        format_error(&with_entries(&e, &data)),
        FormatError::UnexpectedTensor("extra".into())
    );
    // An extra tensor of another dtype and size zero is still unexpected.
    let mut e = base_entries();
    e.push(entry("empty", "F16", &[0], [32, 32]));
    assert_eq!(
        format_error(&with_entries(&e, &base_data())),
        FormatError::UnexpectedTensor("empty".into())
    );
}

// ---------------------------------------------------------------------------------------
// Metadata and graph JSON.

#[test]
fn no_graph_metadata() {
    // No __metadata__ at all.
    assert_eq!(
        format_error(&container(&header(None, &base_entries()), &base_data())),
        FormatError::MissingGraph
    );
    // Metadata, but not ours.
    assert_eq!(
        format_error(&container(
            &header(
                Some(&[("format", "pt"), ("deepiot.graf", "{}")]),
                &base_entries()
            ),
            &base_data()
        )),
        FormatError::MissingGraph
    );
    // A safetensors file with nothing in it.
    assert_eq!(
        format_error(&container("{}", &[])),
        FormatError::MissingGraph
    );
}

#[test]
fn graph_json_garbage() {
    for text in [
        "",
        "not json",
        "{",
        "[]",
        "null",
        "{\"version\": 1}",
        "{\"version\": \"1\", \"inputs\": [], \"nodes\": [], \"outputs\": []}",
        // An op that does not exist.
        r#"{"version":1,"inputs":[{"name":"x","shape":[3]}],"nodes":[{"name":"fc","inputs":["x"],"op":"conv3d","units":2}],"outputs":["fc"]}"#,
        // A negative and a fractional size.
        r#"{"version":1,"inputs":[{"name":"x","shape":[3]}],"nodes":[{"name":"fc","inputs":["x"],"op":"dense","units":-2}],"outputs":["fc"]}"#,
        r#"{"version":1,"inputs":[{"name":"x","shape":[3.5]}],"nodes":[{"name":"fc","inputs":["x"],"op":"dense","units":2}],"outputs":["fc"]}"#,
        // A size beyond every integer type.
        r#"{"version":1,"inputs":[{"name":"x","shape":[3]}],"nodes":[{"name":"fc","inputs":["x"],"op":"dense","units":100000000000000000000000}],"outputs":["fc"]}"#,
        // A required field missing.
        r#"{"version":1,"inputs":[{"name":"x","shape":[3]}],"nodes":[{"name":"fc","inputs":["x"],"op":"dense"}],"outputs":["fc"]}"#,
    ] {
        match format_error(&with_graph_json(text)) {
            FormatError::GraphJson(msg) => assert!(!msg.is_empty()),
            e => panic!("{text}: expected GraphJson, got {e:?}"),
        }
    }
}

#[test]
fn provenance_json_garbage() {
    for text in ["nope", "[1]", "{\"task\": 3}"] {
        let bytes = container(
            &header(
                Some(&[
                    ("deepiot.graph", &base_graph().to_json()),
                    ("deepiot.provenance", text),
                ]),
                &base_entries(),
            ),
            &base_data(),
        );
        assert!(
            matches!(format_error(&bytes), FormatError::ProvenanceJson(_)),
            "{text}"
        );
    }
}

#[test]
fn unsupported_version() {
    for v in [0u32, 2, 999, u32::MAX] {
        let mut g = base_graph();
        g.version = v;
        assert_eq!(
            format_error(&with_graph_json(&g.to_json())),
            FormatError::UnsupportedVersion(v)
        );
    }
}

#[test]
fn empty_graph_parts() {
    let mut g = base_graph();
    g.inputs.clear();
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::EmptyGraph("inputs")
    );
    let mut g = base_graph();
    g.nodes.clear();
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::EmptyGraph("nodes")
    );
    let mut g = base_graph();
    g.outputs.clear();
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::EmptyGraph("outputs")
    );
}

// ---------------------------------------------------------------------------------------
// Edges and names.

#[test]
fn dangling_edge() {
    let mut g = base_graph();
    g.nodes[0].inputs = vec!["nope".into()];
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::DanglingEdge {
            node: "fc".into(),
            input: "nope".into()
        }
    );
    // A graph output that does not exist.
    let mut g = base_graph();
    g.outputs = vec!["fc".into(), "ghost".into()];
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::DanglingEdge {
            node: "outputs".into(),
            input: "ghost".into()
        }
    );
    // The name of a tensor is not the name of a node.
    let mut g = base_graph();
    g.push_from("relu", &["fc.weight"], Op::Relu);
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::DanglingEdge {
            node: "relu".into(),
            input: "fc.weight".into()
        }
    );
}

#[test]
fn cyclic_edge() {
    // A node that reads itself.
    let mut g = base_graph();
    g.nodes[0].inputs = vec!["fc".into()];
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::CyclicEdge {
            node: "fc".into(),
            input: "fc".into()
        }
    );
    // A node that reads a later node (a two-node cycle).
    let mut g = Graph::new("x", &[3]);
    g.push_from("a", &["b"], Op::Relu);
    g.push_from("b", &["a"], Op::Relu);
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::CyclicEdge {
            node: "a".into(),
            input: "b".into()
        }
    );
    // One operand of a concat comes later.
    let mut g = Graph::new("x", &[3]);
    g.push_from("a", &["x"], Op::Relu);
    g.push_from("cat", &["a", "c"], Op::Concat { axis: 0 });
    g.push_from("c", &["x"], Op::Tanh);
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::CyclicEdge {
            node: "cat".into(),
            input: "c".into()
        }
    );
}

#[test]
fn duplicate_names() {
    let mut g = base_graph();
    g.push_from("fc", &["x"], Op::Relu);
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::DuplicateName("fc".into())
    );
    // A node named like the input.
    let mut g = base_graph();
    g.push_from("x", &["fc"], Op::Relu);
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::DuplicateName("x".into())
    );
    // Two inputs with one name.
    let mut g = base_graph();
    g.inputs.push(g.inputs[0].clone());
    assert_eq!(
        format_error(&graph_only(&g)),
        FormatError::DuplicateName("x".into())
    );
}

#[test]
fn wrong_arity() {
    let arity = |g: &Graph| match format_error(&graph_only(g)) {
        FormatError::Arity {
            node,
            expected,
            found,
        } => (node, expected, found),
        e => panic!("expected Arity, got {e:?}"),
    };
    let mut g = base_graph();
    g.nodes[0].inputs = vec!["x".into(), "x".into()];
    assert_eq!(arity(&g), ("fc".into(), "exactly 1", 2));
    let mut g = base_graph();
    g.push_from("relu", &[], Op::Relu);
    assert_eq!(arity(&g), ("relu".into(), "exactly 1", 0));
    let mut g = base_graph();
    g.push_from("cat", &["fc"], Op::Concat { axis: 0 });
    assert_eq!(arity(&g), ("cat".into(), "2 or more", 1));
    let mut g = Graph::new("x", &[5, 3]);
    g.push_from("gru", &["x", "x"], Op::Gru(rec(4)));
    assert_eq!(arity(&g), ("gru".into(), "exactly 1", 2));
}

// ---------------------------------------------------------------------------------------
// Parameters and shapes.

fn rec(hidden: usize) -> Recurrent {
    Recurrent {
        hidden,
        bidirectional: false,
        output: SeqOutput::Last,
    }
}

fn single(shape: &[usize], op: Op) -> Graph {
    let mut g = Graph::new("x", shape);
    g.push("layer", op);
    g
}

fn assert_bad_parameter(g: &Graph, what: &str) {
    match format_error(&graph_only(g)) {
        FormatError::BadParameter { node, .. } => assert_eq!(node, "layer", "{what}"),
        e => panic!("{what}: expected BadParameter, got {e:?}"),
    }
}

fn assert_shape_mismatch(g: &Graph, what: &str) {
    match format_error(&graph_only(g)) {
        FormatError::ShapeMismatch { .. } => {}
        e => panic!("{what}: expected ShapeMismatch, got {e:?}"),
    }
}

fn assert_too_large(g: &Graph, what: &str) {
    match format_error(&graph_only(g)) {
        FormatError::TooLarge { what: w } => assert!(!w.is_empty()),
        e => panic!("{what}: expected TooLarge, got {e:?}"),
    }
}

#[test]
fn zero_kernel_or_stride() {
    let cases = [
        (single(&[2, 9], Op::conv1d(3, 0, 1, 0)), "conv1d kernel 0"),
        (single(&[2, 9], Op::conv1d(3, 3, 0, 0)), "conv1d stride 0"),
        (
            single(&[2, 9, 9], Op::conv2d(3, [0, 3], [1, 1], [0, 0])),
            "conv2d kernel 0",
        ),
        (
            single(&[2, 9, 9], Op::conv2d(3, [3, 3], [1, 0], [0, 0])),
            "conv2d stride 0",
        ),
        (single(&[2, 9], Op::max_pool1d(0, 1)), "max_pool1d kernel 0"),
        (single(&[2, 9], Op::avg_pool1d(2, 0)), "avg_pool1d stride 0"),
        (
            single(&[2, 9, 9], Op::max_pool2d([2, 0], [1, 1])),
            "max_pool2d kernel 0",
        ),
        (
            single(&[2, 9, 9], Op::avg_pool2d([2, 2], [0, 1])),
            "avg_pool2d stride 0",
        ),
        (single(&[4], Op::Dense { units: 0 }), "dense units 0"),
        (single(&[2, 9], Op::conv1d(0, 3, 1, 0)), "conv1d no filters"),
        (
            single(&[2, 9, 9], Op::conv2d(0, [3, 3], [1, 1], [0, 0])),
            "conv2d no filters",
        ),
        (single(&[5, 3], Op::Gru(rec(0))), "gru hidden 0"),
        (single(&[5, 3], Op::Lstm(rec(0))), "lstm hidden 0"),
    ];
    for (g, what) in &cases {
        assert_bad_parameter(g, what);
    }
}

#[test]
fn padding_not_smaller_than_the_kernel() {
    for (g, what) in [
        (
            single(&[2, 9], Op::conv1d(3, 3, 1, 3)),
            "conv1d padding = kernel",
        ),
        (
            single(&[2, 9], Op::conv1d(3, 1, 1, 1)),
            "conv1d 1-wide kernel padded",
        ),
        (
            single(&[2, 9], Op::conv1d(3, 3, 1, 100)),
            "conv1d padding 100",
        ),
        (
            single(&[2, 9, 9], Op::conv2d(3, [3, 3], [1, 1], [1, 3])),
            "conv2d padding = kernel on one axis",
        ),
        (
            single(&[2, 9, 9], Op::conv2d(3, [2, 5], [1, 1], [4, 0])),
            "conv2d padding > kernel",
        ),
    ] {
        assert_bad_parameter(&g, what);
    }
}

#[test]
fn kernel_larger_than_the_input() {
    for (g, what) in [
        (single(&[2, 9], Op::conv1d(3, 10, 1, 0)), "conv1d"),
        (
            single(&[2, 3], Op::conv1d(3, 8, 1, 2)),
            "conv1d padded input still too short",
        ),
        (
            single(&[2, 9, 9], Op::conv2d(3, [3, 10], [1, 1], [0, 0])),
            "conv2d",
        ),
        (single(&[2, 9], Op::max_pool1d(10, 1)), "max_pool1d"),
        (
            single(&[2, 4, 9], Op::avg_pool2d([5, 2], [1, 1])),
            "avg_pool2d",
        ),
    ] {
        assert_shape_mismatch(&g, what);
    }
}

#[test]
fn input_of_the_wrong_rank() {
    for (g, what) in [
        (single(&[9], Op::conv1d(3, 3, 1, 0)), "conv1d on [L]"),
        (
            single(&[2, 9], Op::conv2d(3, [3, 3], [1, 1], [0, 0])),
            "conv2d on [C, L]",
        ),
        (single(&[2, 2, 9], Op::Gru(rec(3))), "gru on rank 3"),
        (single(&[9], Op::Lstm(rec(3))), "lstm on rank 1"),
        (single(&[9], Op::max_pool1d(2, 2)), "max_pool1d on [L]"),
        (single(&[], Op::Relu), "rank-0 input"),
        (single(&[1, 2, 3, 4, 5], Op::Relu), "rank-5 input"),
        (single(&[3, 0], Op::Relu), "empty axis"),
        (
            single(&[6], Op::Reshape { shape: vec![4, 2] }),
            "reshape count",
        ),
        (
            single(&[6], Op::Reshape { shape: vec![] }),
            "reshape to rank 0",
        ),
        (
            single(&[6], Op::Reshape { shape: vec![6, 0] }),
            "reshape to an empty axis",
        ),
        (
            single(
                &[1],
                Op::Reshape {
                    shape: vec![1, 1, 1, 1, 1],
                },
            ),
            "reshape to rank 5",
        ),
    ] {
        assert_shape_mismatch(&g, what);
    }
    // Concat operands that disagree off the axis.
    let mut g = Graph::new("x", &[2, 6]);
    g.push_from("a", &["x"], Op::conv1d(3, 3, 1, 0)); // [3, 4]
    g.push_from("layer", &["a", "x"], Op::Concat { axis: 0 });
    assert_shape_mismatch(&g, "concat [3, 4] and [2, 6] on axis 0");
    let mut g = Graph::new("x", &[2, 6]);
    g.push_from("f", &["x"], Op::Flatten);
    g.push_from("layer", &["x", "f"], Op::Concat { axis: 0 });
    assert_shape_mismatch(&g, "concat of different ranks");
}

#[test]
fn bad_permutations_and_axes() {
    for (g, what) in [
        (
            single(&[2, 3], Op::Permute { perm: vec![0, 0] }),
            "repeated axis",
        ),
        (
            single(&[2, 3], Op::Permute { perm: vec![0, 2] }),
            "axis out of range",
        ),
        (
            single(&[2, 3], Op::Permute { perm: vec![0] }),
            "too few axes",
        ),
        (
            single(
                &[2, 3],
                Op::Permute {
                    perm: vec![1, 0, 2],
                },
            ),
            "too many axes",
        ),
        (
            single(
                &[2, 3],
                Op::Permute {
                    perm: vec![usize::MAX, 0],
                },
            ),
            "huge axis",
        ),
    ] {
        assert_bad_parameter(&g, what);
    }
    let mut g = Graph::new("x", &[2, 3]);
    g.push_from("layer", &["x", "x"], Op::Concat { axis: 2 });
    assert_bad_parameter(&g, "concat axis 2 of rank 2");
}

// ---------------------------------------------------------------------------------------
// Absurd sizes.

#[test]
fn absurd_dimensions() {
    for (g, what) in [
        (single(&[4], Op::Dense { units: 1 << 30 }), "units 2^30"),
        (
            single(&[4], Op::Dense { units: usize::MAX }),
            "units usize::MAX",
        ),
        (
            single(&[1 << 20, 1 << 20], Op::Relu),
            "input of 2^40 elements",
        ),
        (
            single(&[65536, 65536], Op::Relu),
            "dims whose product overflows u32",
        ),
        (
            single(&[1 << 24, 1 << 24, 1 << 24, 1 << 24], Op::Relu),
            "dims whose product overflows u64",
        ),
        (
            single(&[usize::MAX, usize::MAX], Op::Relu),
            "dims of usize::MAX",
        ),
        (single(&[1 << 25], Op::Relu), "one dimension past 2^24"),
        (single(&[5, 3], Op::Gru(rec(1 << 30))), "hidden 2^30"),
        (
            single(&[5, 3], Op::Lstm(rec(1 << 14))),
            "LSTM weights of 2^30 elements",
        ),
        (
            single(&[1 << 10], Op::Dense { units: 1 << 20 }),
            "a 2^30-element weight",
        ),
        (single(&[2, 9], Op::conv1d(3, 1 << 30, 1, 0)), "kernel 2^30"),
        (
            single(&[2, 9], Op::conv1d(3, 3, usize::MAX, 0)),
            "stride usize::MAX",
        ),
        (
            single(&[2, 9], Op::conv1d(3, 3, 1, usize::MAX)),
            "padding usize::MAX",
        ),
        (
            single(&[2, 9, 9], Op::conv2d(1 << 30, [3, 3], [1, 1], [0, 0])),
            "2^30 filters",
        ),
        (
            single(
                &[6],
                Op::Reshape {
                    shape: vec![1 << 24, 1 << 24],
                },
            ),
            "reshape to 2^48 elements",
        ),
    ] {
        assert_too_large(&g, what);
    }
    // Concatenating big operands past the element limit.
    let mut g = Graph::new("x", &[1 << 13, 1 << 13]);
    g.push_from("layer", &["x", "x"], Op::Concat { axis: 0 });
    assert_too_large(&g, "concat to 2^27 elements");
}

#[test]
fn huge_numbers_in_the_graph_json() {
    // Bigger than u64: not even a number the graph can hold.
    let text = base_graph()
        .to_json()
        .replace("\"units\":2", "\"units\":18446744073709551616");
    assert!(text.contains("18446744073709551616"));
    assert!(matches!(
        format_error(&with_graph_json(&text)),
        FormatError::GraphJson(_)
    ));
}

#[test]
fn total_weights_too_large() {
    // Five dense layers of 8192 x 8192 weights: each tensor is within the per-tensor limit,
    // together they are over the 2^28-weight total. The data is really there (the container
    // checks that), but zero-filled by the allocator, so the 1.3 GB cost no memory until
    // touched, and the loader must refuse before touching it.
    if usize::BITS < 64 {
        return;
    }
    let n = 8192usize;
    let mut g = Graph::new("x", &[n]);
    let mut entries = Vec::new();
    let mut offset = 0u128;
    for i in 0..5 {
        let name = format!("fc{i}");
        g.push(&name, Op::Dense { units: n });
        let w = (n * n * 4) as u128;
        entries.push(entry(
            &format!("{name}.weight"),
            "F32",
            &[n as u128, n as u128],
            [offset, offset + w],
        ));
        offset += w;
        let b = (n * 4) as u128;
        entries.push(entry(
            &format!("{name}.bias"),
            "F32",
            &[n as u128],
            [offset, offset + b],
        ));
        offset += b;
    }
    let h = header(Some(&[("deepiot.graph", &g.to_json())]), &entries);
    let mut bytes = vec![0u8; 8 + h.len() + offset as usize];
    bytes[..8].copy_from_slice(&(h.len() as u64).to_le_bytes());
    bytes[8..8 + h.len()].copy_from_slice(h.as_bytes());
    match format_error(&bytes) {
        FormatError::TooLarge { what } => assert!(what.contains("total"), "{what}"),
        e => panic!("expected TooLarge, got {e:?}"),
    }
}

/// A valid file (zero weights) for a graph.
fn zero_model(g: &Graph) -> Vec<u8> {
    let info = g.infer().expect("valid graph");
    let values: Vec<(String, Vec<usize>, Vec<f32>)> = info
        .params
        .iter()
        .flatten()
        .map(|p| (p.name.clone(), p.shape.clone(), vec![0.0; p.len()]))
        .collect();
    let t: Vec<TensorData<'_>> = values
        .iter()
        .map(|(name, shape, values)| TensorData {
            name,
            shape,
            values,
        })
        .collect();
    write(g, &BTreeMap::new(), &t).expect("writable")
}

#[test]
fn activations_too_large_for_the_arena() {
    // Small weights, but the scratch of the recurrent input projection (T x 3H) or of the
    // convolution's column matrix (C K x L') is billions of floats, far past what the
    // address space of the board holds: refused at load, not allocated, no overflow.
    let mut g = Graph::new("x", &[1 << 24, 1]);
    g.push("gru", Op::Gru(rec(128)));
    assert_eq!(
        Model::load(&zero_model(&g)).err(),
        Some(LoadError::ArenaTooLarge)
    );
    // 2^24 steps x 3 x 256 = 3 x 2^32: wraps to exactly 0 in 32-bit arithmetic.
    let mut g = Graph::new("x", &[1 << 24, 1]);
    g.push("gru", Op::Gru(rec(256)));
    assert_eq!(
        Model::load(&zero_model(&g)).err(),
        Some(LoadError::ArenaTooLarge)
    );

    let mut g = Graph::new("x", &[1, 1 << 24]);
    g.push("conv", Op::conv1d(1, 300, 1, 0));
    assert_eq!(
        Model::load(&zero_model(&g)).err(),
        Some(LoadError::ArenaTooLarge)
    );

    let mut g = Graph::new("x", &[64, 1024, 1024]);
    g.push("conv", Op::conv2d(1, [31, 31], [1, 1], [0, 0]));
    assert_eq!(
        Model::load(&zero_model(&g)).err(),
        Some(LoadError::ArenaTooLarge)
    );
}

// ---------------------------------------------------------------------------------------
// Arguments to run.

#[test]
fn run_refuses_wrong_lengths_and_counts() {
    let mut m = Model::load(&with_entries(&base_entries(), &base_data())).expect("valid");
    let mut y = [0.0f32; 2];
    assert_eq!(
        m.run(&[1.0, 2.0], &mut y),
        Err(RunError::Length {
            what: "input",
            index: 0,
            expected: 3,
            found: 2
        })
    );
    assert_eq!(
        m.run(&[1.0, 2.0, 3.0], &mut [0.0; 3]),
        Err(RunError::Length {
            what: "output",
            index: 0,
            expected: 2,
            found: 3
        })
    );
    assert_eq!(
        m.run_multi(&[], &mut [&mut y[..]]),
        Err(RunError::Count {
            what: "input",
            expected: 1,
            found: 0
        })
    );
    let x = [1.0f32, 2.0, 3.0];
    assert_eq!(
        m.run_multi(&[&x, &x], &mut [&mut y[..]]),
        Err(RunError::Count {
            what: "input",
            expected: 1,
            found: 2
        })
    );
    assert_eq!(
        m.run_multi(&[&x], &mut []),
        Err(RunError::Count {
            what: "output",
            expected: 1,
            found: 0
        })
    );
    // Still usable afterwards.
    m.run(&x, &mut y).expect("valid run");
}

#[test]
fn node_struct_is_what_the_file_says() {
    // Sanity: a graph node written as JSON reads back as the same node (the tests above
    // rely on Graph::to_json to write graphs that are wrong on purpose).
    let g = single(&[2, 9], Op::conv1d(3, 0, 1, 0));
    let back = Graph::from_json(&g.to_json()).expect("round trip");
    assert_eq!(
        back.nodes[0],
        Node {
            name: "layer".into(),
            inputs: vec!["x".into()],
            op: Op::conv1d(3, 0, 1, 0)
        }
    );
}
