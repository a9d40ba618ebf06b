//! `deepiot export` then `deepiot import` gives back the model: the same layers with the
//! same settings, the same inputs and outputs, and bit-identical weights. No Python needed.
use deepiot_format::testing::{model_file, random_weights};
use deepiot_format::{reference, Graph, Op, Recurrent, SeqOutput};
use deepiot_onnx::export::export_bytes;
use deepiot_onnx::import::{import, ImportOptions};

/// Exports `graph` with random weights, imports the ONNX bytes, and compares.
fn round_trip(name: &str, graph: &Graph) {
    let weights = random_weights(graph, 7);
    let original = model_file(graph, &weights, &Default::default());
    let onnx = export_bytes(&original).unwrap_or_else(|e| panic!("{name}: export: {e}"));
    let back =
        import(&onnx, &ImportOptions::default()).unwrap_or_else(|e| panic!("{name}: import: {e}"));
    // The same layers, reading the same inputs. (A layer that only reshapes may come at
    // another place in the order: the importer adds views where they are first needed.)
    let layers = |g: &Graph| -> Vec<(String, Vec<String>, String)> {
        let mut v: Vec<_> = g
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.inputs.clone(), format!("{:?}", n.op)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        layers(&back.graph),
        layers(graph),
        "{name}: the layers differ"
    );
    let inputs =
        |g: &Graph| -> Vec<Vec<usize>> { g.inputs.iter().map(|i| i.shape.clone()).collect() };
    assert_eq!(
        inputs(&back.graph),
        inputs(graph),
        "{name}: the inputs differ"
    );
    assert_eq!(back.graph.outputs.len(), graph.outputs.len(), "{name}");
    let names = |t: &deepiot_format::testing::Tensors| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&back.tensors),
        names(&weights),
        "{name}: the names differ"
    );
    // Every weight, bit for bit.
    let flat = |t: &deepiot_format::testing::Tensors| -> Vec<(Vec<usize>, Vec<u32>)> {
        let mut v: Vec<_> = t
            .values()
            .map(|(s, x)| (s.clone(), x.iter().map(|f| f.to_bits()).collect()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        flat(&back.tensors),
        flat(&weights),
        "{name}: the weights differ"
    );
}

#[test]
fn the_reference_models_survive_export_and_import() {
    for (name, graph) in [
        ("lenet5", reference::lenet5_mnist()),
        ("deepsense_gru", reference::deepsense_gru()),
        ("bilstm", reference::bilstm()),
        ("branched", reference::branched()),
    ] {
        round_trip(name, &graph);
    }
}

#[test]
fn recurrent_layers_in_every_mode_survive_export_and_import() {
    for bidirectional in [false, true] {
        for output in [SeqOutput::Last, SeqOutput::Mean, SeqOutput::Sequence] {
            for lstm in [false, true] {
                let rec = Recurrent::new(5, bidirectional, output);
                let mut g = Graph::new("x", &[6, 4]);
                g.push("rnn", if lstm { Op::Lstm(rec) } else { Op::Gru(rec) });
                if output == SeqOutput::Sequence {
                    g.push("flat", Op::Flatten);
                }
                g.push("fc", Op::Dense { units: 3 });
                round_trip(&format!("{lstm} {bidirectional} {output:?}"), &g);
            }
        }
    }
}
