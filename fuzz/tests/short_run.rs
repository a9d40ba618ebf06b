//! CI's short fuzzing run: every target's seeds and regression files pass their check,
//! then 3,000 seeded mutations per target (the long runs are `fuzz-run` and
//! `cargo fuzz run`, see fuzz/README.md). Fails on any panic or hang, naming the input.
use deepiot_fuzz::{regressions, run, seeds, Target};

#[test]
fn seeds_and_regressions_pass_every_check() {
    for t in Target::ALL {
        let s = seeds(t);
        assert!(!s.is_empty(), "{}: no seeds", t.name());
        for input in s.iter().chain(&regressions(t)) {
            t.check(input);
        }
    }
}

#[test]
fn a_short_mutation_run_finds_no_crash_or_hang() {
    for t in Target::ALL {
        let mut corpus = seeds(t);
        corpus.extend(regressions(t));
        let r = run(t, &corpus, 3_000, 20261203);
        assert_eq!(r.cases, 3_000);
        assert!(
            r.crashes.is_empty() && r.hangs.is_empty(),
            "{}: {} crash(es), first: {:?}; {} hang(s)",
            t.name(),
            r.crashes.len(),
            r.crashes.first().map(|c| &c.1),
            r.hangs.len()
        );
    }
}
