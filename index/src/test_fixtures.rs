//! Helm's signed fixture chart for the unit tests of the write path and the provenance policy.

use std::io::{Read, Write};

use bytes::Bytes;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/helm/pkg/downloader/testdata/");

pub(crate) fn fixture(file: &str) -> Bytes {
    Bytes::from(std::fs::read(format!("{FIXTURES}{file}")).unwrap())
}

/// `signtest-0.1.0`, signed by Helm's test key (`helm-test-key.pub`).
pub(crate) fn signtest() -> Bytes {
    fixture("signtest-0.1.0.tgz")
}

pub(crate) fn signtest_prov() -> Bytes {
    fixture("signtest-0.1.0.tgz.prov")
}

/// The same chart in other bytes (compressed again): another digest, which the provenance file
/// does not vouch for.
pub(crate) fn signtest_recompressed() -> Bytes {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&signtest()[..]).read_to_end(&mut tar).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).unwrap();
    Bytes::from(gz.finish().unwrap())
}
