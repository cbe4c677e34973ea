//! What every test module imports: the toolkit (`testkit/`, shared with the benchmarks) and the
//! chart builder.

pub use chartroom_testkit::*;

/// The toolkit starts the binary cargo built for this test (it reads `CARGO_BIN_EXE_chartroom`
/// at run time; only this package's tests can name it at build time).
#[test]
fn the_toolkit_runs_the_binary_under_test() {
    assert_eq!(chartroom_testkit::tools::chartroom_binary(), std::path::Path::new(env!("CARGO_BIN_EXE_chartroom")));
}
