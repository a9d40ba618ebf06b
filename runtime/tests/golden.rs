//! The runtime against PyTorch: each golden file in `tests/fixtures/golden` (committed,
//! described in its README; a missing file fails, never skips) holds one small
//! PyTorch module's weights under PyTorch's names, a batch of inputs and what PyTorch
//! computed. `deepiot_format::testing::golden` describes each module as deepiot graphs
//! (the same checks the host's candle networks run in `tests/tests/host_golden.rs`);
//! here each is written with `deepiot_format::write`, loaded in the runtime and run on
//! every example. Criterion: `|runtime - torch| / max(1, |torch|) <= 1e-5` per element
//! (`golden::TOLERANCE`).
use deepiot_format::testing::golden::{self, Golden};
use deepiot_format::testing::model_file;
use deepiot_runtime::Model;
use std::collections::BTreeMap;

/// Runs every check of golden file `name` on every example, one example at a time.
fn check(name: &str) {
    let g = Golden::open(name);
    for c in g.checks() {
        let bytes = model_file(&c.graph, &c.tensors, &BTreeMap::new());
        let mut model = Model::load(&bytes).expect("the runtime loads the golden graph");
        let mut y = vec![0.0f32; model.output_len(0)];
        assert_eq!(y.len() * g.batch(), c.expected.len(), "{}: length", c.what);
        for (b, want) in c.expected.chunks(y.len()).enumerate() {
            model
                .run(g.example("input", b), &mut y)
                .expect("input and output sizes match");
            golden::assert_close(&format!("{}, example {b}: runtime", c.what), &y, want);
        }
    }
}

deepiot_format::golden_tests!(check);
