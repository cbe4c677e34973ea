#![no_main]
//! `values.yaml` and `values.schema.json` as the server reads them: upload validation (inside
//! a chart archive) and the chart API (`GET /api/charts/<name>/<version>/templates` parses
//! `values.yaml`). Never a panic; and a `values.yaml` an upload accepts, the API serves (a 500
//! "stored values.yaml is unreadable" for an accepted chart is a bug).
use chartroom_chart::archive::{Limits, load_archive};
use chartroom_chart::testing::ChartBuilder;
use chartroom_server::fuzzing::values;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, content)) = data.split_first() else { return };
    let served = values(content);
    let file = if which & 1 == 0 { "values.yaml" } else { "values.schema.json" };
    let archive = ChartBuilder::chart("demo", "1.0.0").file(file, content).gzip_level(0).build();
    let accepted = load_archive(&archive, &Limits::default());
    if file == "values.yaml" && accepted.is_ok() {
        let served = served.unwrap_or_else(|e| panic!("accepted values.yaml is not served: {e:?}"));
        assert!(served.is_object() || served.is_null(), "values are a map: {served}");
    }
});
