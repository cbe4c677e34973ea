//! Archive validation against Helm's fixtures and against hand-built malformed archives.

use std::path::PathBuf;

use chartroom_chart::archive::{ArchiveError, Limits, extract_all, extract_files, load_archive, read_metadata};
use chartroom_chart::metadata::MetadataError;
use chartroom_chart::provenance;
use chartroom_chart::testing::{ChartBuilder, TarEntry, gzip};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn testdata(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/helm").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (path under testdata/helm, chart name, version, apiVersion, sha256)
const FIXTURES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "pkg/chart/v2/loader/testdata/frobnitz-1.2.3.tgz",
        "frobnitz",
        "1.2.3",
        "v1",
        "7c14f8de48fb32db7c24400edc98ac3a8b18b04d1d92e31efd728d48dc64f0a7",
    ),
    (
        "pkg/chart/v2/loader/testdata/frobnitz.v1.tgz",
        "frobnitz",
        "1.2.3",
        "v1",
        "834f2cc2278e20f7d96b6b5518a6ba35425b6bf9dc5f68244a9fdc172a919249",
    ),
    (
        "pkg/chart/v2/loader/testdata/frobnitz_with_bom.tgz",
        "frobnitz",
        "1.2.3",
        "v1",
        "d64bafc8f49157b0d21024c7f1aca68bc509624811a74135cf6cee48a60a461e",
    ),
    (
        "pkg/chart/v2/loader/testdata/frobnitz_backslash-1.2.3.tgz",
        "frobnitz_backslash",
        "1.2.3",
        "v1",
        "097119619493c1c5f3ea8dd0759ca451e42e0d8c993b764b0885760cf5b705d1",
    ),
    (
        "historical/37920761a/pkg/chartutil/testdata/frobnitz_backslash-1.2.3.tgz",
        "frobnitz_backslash",
        "1.2.3",
        "v1",
        "06cc4f9e337d98fd0b96450cd04d48737a3c26be2961a700813b002ef9e09765",
    ),
    (
        "pkg/chart/v2/loader/testdata/frobnitz/charts/alpine/charts/mast2-0.1.0.tgz",
        "mast2",
        "0.1.0",
        "v2",
        "a2bcf79fcc3207660582d56db2060ea24b67de309c5e99ae6cc2a2b53782bf7a",
    ),
    (
        "pkg/chart/v2/loader/testdata/frobnitz/charts/mariner-4.3.2.tgz",
        "mariner",
        "4.3.2",
        "v1",
        "982ea2143f27079c71a307207100f07815d3655b0f951abf26e333b7aef7d26f",
    ),
    (
        "pkg/chart/v2/loader/testdata/mariner/charts/albatross-0.1.0.tgz",
        "albatross",
        "0.1.0",
        "v1",
        "13ede6b76c46634c0f8c3c3343e0500799858890830e5a36eb48b734aa901bff",
    ),
    (
        "pkg/repo/v1/repotest/testdata/examplechart-0.1.0.tgz",
        "examplechart",
        "0.1.0",
        "v1",
        "43f83b0de8f2b93e7d8441434e4d950731cc661ed710dd8b1846b907dbb7a4b3",
    ),
    (
        "pkg/downloader/testdata/signtest-0.1.0.tgz",
        "signtest",
        "0.1.0",
        "v1",
        "e5ef611620fb97704d8751c16bab17fedb68883bfb0edc76f78a70e9173f9b55",
    ),
    (
        "pkg/provenance/testdata/hashtest-1.2.3.tgz",
        "hashtest",
        "1.2.3",
        "v1",
        "c6841b3a895f1444a6738b5d04564a57e860ce42f8519c3be807fb6d9bee7888",
    ),
    (
        "pkg/downloader/testdata/local-subchart-0.1.0.tgz",
        "local-subchart",
        "0.1.0",
        "v1",
        "d2ab7310924fa816445fa7dec0a829b005ece8592219e9714c9572ec47847c9a",
    ),
    (
        "pkg/repo/v1/testdata/repository/frobnitz-1.2.3.tgz",
        "frobnitz",
        "1.2.3",
        "v1",
        "3bbfcddf35ae259e74bfdcecf384ab249b4943d14bd18688fb9138b61647a89e",
    ),
    (
        "pkg/repo/v1/testdata/repository/sprocket-1.1.0.tgz",
        "sprocket",
        "1.1.0",
        "v1",
        "349eebf2134be28853d1351c7b961c1e07abaec53c74a69bd83eaaa75f233fb5",
    ),
    (
        "pkg/repo/v1/testdata/repository/sprocket-1.2.0.tgz",
        "sprocket",
        "1.2.0",
        "v1",
        "9d29191189169ce4cd8821ceb5ea27bc499a81647d096d0714722c5407de6e0a",
    ),
    (
        "pkg/repo/v1/testdata/repository/universe/zarthal-1.0.0.tgz",
        "zarthal",
        "1.0.0",
        "v1",
        "b0d177f800ca1cce20b12216b41a60d9e25c4cd9ca8e582452f3c7286aedc92d",
    ),
];

#[test]
fn every_fixture_loads() {
    let limits = Limits::default();
    for &(path, name, version, api, digest) in FIXTURES {
        let bytes = testdata(path);
        let loaded = load_archive(&bytes, &limits).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(loaded.metadata.name, name, "{path}");
        assert_eq!(loaded.metadata.version, version, "{path}");
        assert_eq!(loaded.metadata.api_version, api, "{path}");
        assert_eq!(loaded.digest, digest, "{path}");
        assert_eq!(loaded.size, bytes.len() as u64, "{path}");

        let fast = read_metadata(&bytes, &limits).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(fast.metadata, loaded.metadata, "{path}");
        assert_eq!(fast.digest, digest, "{path}");
    }
}

/// Helm 4's chart API v3 fixtures: neither Helm 3 nor Helm 4.1 installs them from a repository,
/// so they are refused, by the full check and the fast path alike, naming the field.
#[test]
fn chart_api_v3_is_refused() {
    let limits = Limits::default();
    for path in [
        "internal/chart/v3/loader/testdata/frobnitz-1.2.3.tgz",
        "internal/chart/v3/loader/testdata/frobnitz_backslash-1.2.3.tgz",
        "internal/chart/v3/loader/testdata/frobnitz_with_bom.tgz",
    ] {
        let bytes = testdata(path);
        for e in [load_archive(&bytes, &limits).unwrap_err(), read_metadata(&bytes, &limits).unwrap_err()] {
            assert_eq!(
                e.to_string(),
                "Chart.yaml: apiVersion \"v3\" is not supported: must be \"v1\" or \"v2\"",
                "{path}"
            );
        }
    }
}

#[test]
fn frobnitz_metadata_details() {
    let bytes = testdata("pkg/chart/v2/loader/testdata/frobnitz-1.2.3.tgz");
    let md = load_archive(&bytes, &Limits::default()).unwrap().metadata;
    let deps: Vec<&str> = md.dependencies.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(deps, ["alpine", "mariner"]);
    assert!(!md.maintainers.is_empty());

    // Helm merges a v1 chart's requirements.yaml into its metadata.
    let bytes = testdata("pkg/chart/v2/loader/testdata/frobnitz.v1.tgz");
    let md = load_archive(&bytes, &Limits::default()).unwrap().metadata;
    assert!(!md.dependencies.is_empty());
}

#[test]
fn extract_top_level_files() {
    let bytes = testdata("pkg/chart/v2/loader/testdata/frobnitz_with_bom.tgz");
    let files =
        extract_files(&bytes, &Limits::default(), |p| p == "values.yaml" || p.starts_with("templates/")).unwrap();
    assert!(files.iter().any(|f| f.path == "values.yaml"));
    assert!(files.iter().any(|f| f.path.starts_with("templates/")));
    assert!(files.iter().all(|f| !f.data.starts_with(b"\xEF\xBB\xBF")));
    // Files of subcharts are not the chart's own.
    let all = extract_files(&bytes, &Limits::default(), |_| true).unwrap();
    assert!(all.iter().all(|f| !f.path.starts_with("charts/alpine/")));
    assert!(all.iter().any(|f| f.path == "Chart.yaml"));
}

#[test]
fn extract_all_includes_subcharts() {
    // frobnitz: directory subcharts (charts/alpine/...) and packaged ones (charts/mariner-*.tgz).
    let bytes = testdata("pkg/chart/v2/loader/testdata/frobnitz_with_bom.tgz");
    let all = extract_all(&bytes, &Limits::default()).unwrap();
    let top = extract_files(&bytes, &Limits::default(), |_| true).unwrap();
    for f in &top {
        assert!(all.contains(f), "{} missing from extract_all", f.path);
    }
    assert!(all.iter().any(|f| f.path == "charts/alpine/Chart.yaml"));
    let packaged: Vec<_> = all.iter().filter(|f| f.path.starts_with("charts/") && f.path.ends_with(".tgz")).collect();
    assert!(!packaged.is_empty());
    for f in packaged {
        // Nested archives are kept whole: they load on their own.
        load_archive(&f.data, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", f.path));
    }
    assert!(all.iter().all(|f| !f.data.starts_with(b"\xEF\xBB\xBF")));

    // Same path rules and bounds as extract_files.
    let evil = chart_with(&[("demo/charts/sub/../../x", b"")]);
    assert!(matches!(extract_all(&evil, &Limits::default()), Err(ArchiveError::ParentDirectory { .. })));
    let big = chart_with(&[("demo/charts/sub/big", &[0u8; 2048])]);
    let small = Limits { max_file: 1024, ..Limits::default() };
    assert!(matches!(extract_all(&big, &small), Err(ArchiveError::FileTooLarge { .. })));
    let dup = ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .file("demo/charts/sub/Chart.yaml", b"a")
        .entry(TarEntry::file("demo/charts/sub/Chart.yaml", b"b"))
        .build();
    assert!(matches!(extract_all(&dup, &Limits::default()), Err(ArchiveError::DuplicateEntry { .. })));
}

#[test]
fn provenance_fixtures_parse() {
    let p = provenance::parse(&testdata("pkg/provenance/testdata/hashtest-1.2.3.tgz.prov")).unwrap();
    assert_eq!(p.name, "hashtest");
    assert_eq!(p.version, "1.2.3");
    assert_eq!(
        p.files.get("hashtest-1.2.3.tgz").map(String::as_str),
        Some("sha256:c6841b3a895f1444a6738b5d04564a57e860ce42f8519c3be807fb6d9bee7888")
    );
    let p = provenance::parse(&testdata("pkg/downloader/testdata/signtest-0.1.0.tgz.prov")).unwrap();
    assert_eq!(p.name, "signtest");
    assert_eq!(p.version, "0.1.0");
    let archive = testdata("pkg/downloader/testdata/signtest-0.1.0.tgz");
    let sum = format!("sha256:{}", hex::encode(Sha256::digest(&archive)));
    assert_eq!(p.files.get("signtest-0.1.0.tgz"), Some(&sum));
    let p = provenance::parse(&testdata("pkg/provenance/testdata/msgblock.yaml.asc")).unwrap();
    assert_eq!(p.name, "hashtest");
    assert_eq!(p.version, "1.2.3");
    assert_eq!(p.files.len(), 1);
    // The bare message block is not a clear-signed message.
    let e = provenance::parse(&testdata("pkg/provenance/testdata/msgblock.yaml")).unwrap_err();
    assert!(e.to_string().starts_with("invalid provenance file: "));
    insta::assert_snapshot!(e.to_string(), @r#"invalid provenance file: does not start with "-----BEGIN PGP SIGNED MESSAGE-----""#);
}

// ---------------------------------------------------------------------------------------------
// Archives built by hand (`ChartBuilder` writes raw headers: tar-rs refuses `..` or absolute
// names).

const CHART: &str = "apiVersion: v2\nname: demo\nversion: 0.1.0\n";

/// `demo/Chart.yaml` ([`CHART`]) followed by `extra` entries, named as given (duplicates kept).
fn chart_with(extra: &[(&str, &[u8])]) -> Vec<u8> {
    ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .entries(extra.iter().map(|(name, data)| TarEntry::file(name, *data)))
        .build()
}

fn chart_yaml(body: &str) -> Vec<u8> {
    ChartBuilder::new().file("demo/Chart.yaml", body).build()
}

fn load(bytes: &[u8]) -> Result<chartroom_chart::archive::LoadedChart, ArchiveError> {
    load_archive(bytes, &Limits::default())
}

fn alias_bomb() -> String {
    let mut y = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..10 {
        let p = i - 1;
        y.push_str(&format!("a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
    }
    y
}

#[test]
fn minimal_chart_loads() {
    let loaded = load(&chart_with(&[
        ("demo/values.yaml", b"a: 1\n"),
        ("demo/values.schema.json", b"{\"type\": \"object\"}"),
        ("demo/templates/x.yaml", b"{{ .Values.a }}"),
        ("demo/chart.yaml", b"different case: fine"),
        ("demo/charts/.keep", b""),
        ("demo/charts/_helpers/readme", b""),
        ("demo/charts/sub-1.0.0.tgz.prov", b"not checked"),
    ]))
    .unwrap();
    assert_eq!(loaded.metadata.name, "demo");
    assert_eq!(loaded.digest.len(), 64);
}

#[test]
fn zero_padding_after_gzip_is_fine_garbage_is_not() {
    let mut bytes = chart_with(&[]);
    bytes.extend_from_slice(&[0; 1000]);
    load(&bytes).unwrap();
    bytes.extend_from_slice(b"junk");
    assert!(matches!(load(&bytes), Err(ArchiveError::TrailingData)));
}

#[test]
fn directory_entries_and_dot_slash_top() {
    let bytes = ChartBuilder::new()
        .entry(TarEntry::dir("demo/"))
        .entry(TarEntry::dir("demo/templates/"))
        .file("demo/Chart.yaml", CHART)
        .build();
    load(&bytes).unwrap();
}

#[test]
fn reject_not_gzip() {
    let e = load(b"this is not a gzip file").unwrap_err();
    assert!(matches!(e, ArchiveError::NotGzip), "{e}");
    assert!(e.to_string().contains("gzip"));
    insta::assert_snapshot!(e.to_string(), @"not a gzipped archive (expected the gzip magic bytes 1f 8b 08)");
}

#[test]
fn reject_empty_input() {
    assert!(matches!(load(b""), Err(ArchiveError::Empty)));
}

#[test]
fn reject_truncated_gzip() {
    let bytes = chart_with(&[("demo/values.yaml", "x: y\n".repeat(2000).as_bytes())]);
    let e = load(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(e, ArchiveError::Gzip(_)), "{e}");
    let e = load(&bytes[..bytes.len() - 4]).unwrap_err();
    assert!(matches!(e, ArchiveError::Gzip(_)), "{e}");
}

#[test]
fn reject_gzip_of_non_tar() {
    let e = load(&gzip(&b"hello world, not a tar archive at all\n".repeat(20))).unwrap_err();
    assert!(matches!(e, ArchiveError::Tar(_)), "{e}");
    let e = load(&gzip(b"short")).unwrap_err();
    assert!(matches!(e, ArchiveError::Tar(_)), "{e}");
}

#[test]
fn reject_truncated_tar_inside_valid_gzip() {
    let mut tar = ChartBuilder::new().file("demo/Chart.yaml", CHART).file("demo/big.txt", [b'a'; 4000]).tar();
    tar.truncate(512 + 512 + 512 + 1000);
    let e = load(&gzip(&tar)).unwrap_err();
    assert!(matches!(e, ArchiveError::Truncated { .. } | ArchiveError::Tar(_)), "{e}");
}

/// Stream `count` files of `size` zero bytes into a fast gzip, without building the tar in memory.
fn zero_bomb(count: usize, size: usize) -> Vec<u8> {
    ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .entries((0..count).map(|i| TarEntry::zeros(format!("demo/zeros{i}"), size as u64)))
        .gzip_level(1)
        .build()
}

#[test]
fn reject_decompression_bomb_past_total() {
    // 21 files of 5 MiB of zeros: a small upload that inflates past 100 MiB.
    let bytes = zero_bomb(21, 5 * 1024 * 1024);
    assert!(bytes.len() < 2 * 1024 * 1024);
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("104857600"), "{e}");
    insta::assert_snapshot!(e.to_string(), @"decompressed chart is larger than the maximum size of 104857600 bytes");
    // Indexing a stored archive reads only up to its (v2) Chart.yaml, so the bomb behind it is
    // never inflated; uploads (above) validate the whole archive.
    let r = read_metadata(&bytes, &Limits::default());
    assert_eq!(r.map(|l| l.metadata.name).ok().as_deref(), Some("demo"));
    // 19 of them (95 MiB) are fine.
    load(&zero_bomb(19, 5 * 1024 * 1024)).unwrap();
}

#[test]
fn total_limit_is_exclusive() {
    let tar = ChartBuilder::new().file("demo/Chart.yaml", CHART).tar();
    let bytes = gzip(&tar);
    let exact = Limits { max_decompressed: tar.len() as u64, ..Limits::default() };
    assert!(matches!(load_archive(&bytes, &exact), Err(ArchiveError::TooLarge { .. })));
    let above = Limits { max_decompressed: tar.len() as u64 + 1, ..Limits::default() };
    load_archive(&bytes, &above).unwrap();
}

#[test]
fn reject_single_file_over_5_mib() {
    let big = vec![b'a'; 5 * 1024 * 1024 + 1];
    let e = load(&chart_with(&[("demo/big.bin", &big)])).unwrap_err();
    match &e {
        ArchiveError::FileTooLarge { path, .. } => assert_eq!(path, "demo/big.bin"),
        _ => panic!("{e}"),
    }
    // Exactly 5 MiB is fine.
    let ok = vec![b'a'; 5 * 1024 * 1024];
    load(&chart_with(&[("demo/ok.bin", &ok)])).unwrap();
}

#[test]
fn reject_parent_directory() {
    let bytes = chart_with(&[("demo/../../etc/passwd", b"x")]);
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::ParentDirectory { .. }), "{e}");
    assert!(e.to_string().contains("demo/../../etc/passwd"));
    insta::assert_snapshot!(e.to_string(), @r#"entry "demo/../../etc/passwd": chart illegally references parent directory"#);
}

#[test]
fn reject_absolute_path() {
    let bytes = ChartBuilder::new().file("/demo/Chart.yaml", CHART).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::AbsolutePath { .. }), "{e}");
}

#[test]
fn reject_drive_letter() {
    let bytes = chart_with(&[("demo\\c:\\windows\\x", b"x")]);
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::IllegalName { .. }), "{e}");
}

#[test]
fn reject_symlink() {
    let bytes =
        ChartBuilder::new().file("demo/Chart.yaml", CHART).entry(TarEntry::symlink("demo/link", "target")).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(&e, ArchiveError::ForbiddenEntryType { kind, .. } if kind == "symlink"), "{e}");
    assert!(e.to_string().contains("demo/link"));
    insta::assert_snapshot!(e.to_string(), @r#"entry "demo/link": symlink entries are not allowed in a chart archive"#);
}

#[test]
fn reject_hardlink() {
    let bytes =
        ChartBuilder::new().file("demo/Chart.yaml", CHART).entry(TarEntry::hardlink("demo/link", "target")).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(&e, ArchiveError::ForbiddenEntryType { kind, .. } if kind == "hard link"), "{e}");
}

#[test]
fn reject_char_device() {
    let bytes = ChartBuilder::new().file("demo/Chart.yaml", CHART).entry(TarEntry::char_device("demo/null")).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(&e, ArchiveError::ForbiddenEntryType { kind, .. } if kind == "character device"), "{e}");
}

#[test]
fn reject_block_device() {
    let bytes = ChartBuilder::new().file("demo/Chart.yaml", CHART).entry(TarEntry::block_device("demo/sda")).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(&e, ArchiveError::ForbiddenEntryType { kind, .. } if kind == "block device"), "{e}");
}

#[test]
fn reject_fifo() {
    let bytes = ChartBuilder::new().file("demo/Chart.yaml", CHART).entry(TarEntry::fifo("demo/pipe")).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(&e, ArchiveError::ForbiddenEntryType { kind, .. } if kind == "fifo"), "{e}");
}

#[test]
fn reject_missing_chart_yaml() {
    let bytes = ChartBuilder::new().file("demo/values.yaml", b"a: 1\n").build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::ChartYamlMissing), "{e}");
    assert_eq!(e.to_string(), "Chart.yaml file is missing");
}

#[test]
fn reject_two_chart_yaml_entries() {
    let bytes = ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .entry(TarEntry::file("demo/Chart.yaml", b"name: evil\nversion: 6.6.6\n"))
        .build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::DuplicateEntry { .. }), "{e}");
    // Also when the duplicate is spelled differently but normalizes to the same path.
    let evil = b"apiVersion: v2\nname: evil\nversion: 6.6.6\n";
    let bytes = ChartBuilder::new().file("demo/Chart.yaml", CHART).file("demo/./Chart.yaml", &evil[..]).build();
    assert!(matches!(load(&bytes), Err(ArchiveError::DuplicateEntry { .. })));
}

#[test]
fn reject_chart_yaml_at_root() {
    let bytes = ChartBuilder::new().file("Chart.yaml", CHART).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::ChartYamlAtRoot { .. }), "{e}");
}

#[test]
fn reject_file_at_top_level() {
    let bytes =
        ChartBuilder::new().file("demo/Chart.yaml", CHART).file("demo", b"a file named like the top directory").build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::OutsideBaseDirectory { .. }), "{e}");
}

#[test]
fn reject_two_top_level_directories() {
    let bytes = ChartBuilder::new().file("demo/Chart.yaml", CHART).file("other/Chart.yaml", CHART).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::MultipleTopLevelDirectories { .. }), "{e}");
}

#[test]
fn reject_invalid_yaml() {
    let e = load(&chart_yaml("name: demo\n\tversion: [1\n")).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::Yaml(_))), "{e}");
    assert!(e.to_string().starts_with("Chart.yaml: "));
    insta::assert_snapshot!(e.to_string(), @"Chart.yaml: invalid YAML: while scanning a plain scalar, found a tab at line 1, column 7");
}

#[test]
fn reject_alias_bomb_in_chart_yaml() {
    let e = load(&chart_yaml(&format!("{CHART}{}", alias_bomb()))).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::Yaml(_))), "{e}");
}

#[test]
fn reject_alias_bomb_in_values_yaml() {
    let e = load(&chart_with(&[("demo/values.yaml", alias_bomb().as_bytes())])).unwrap_err();
    assert!(matches!(&e, ArchiveError::InvalidFile { path, .. } if path == "values.yaml"), "{e}");
    assert!(e.to_string().starts_with("cannot load values.yaml: "));
    insta::assert_snapshot!(e.to_string(), @"cannot load values.yaml: alias replay limit exceeded: total_replayed_events=10481 > 10480 at line 1, column 9 (defined at line 3, column 9) (used at line 4, column 38)");
}

#[test]
fn reject_values_yaml_not_a_map() {
    let e = load(&chart_with(&[("demo/values.yaml", b"- a\n- b\n")])).unwrap_err();
    assert!(matches!(e, ArchiveError::InvalidFile { .. }), "{e}");
    // Empty and null values are fine, so are several documents of maps.
    load(&chart_with(&[("demo/values.yaml", b"")])).unwrap();
    load(&chart_with(&[("demo/values.yaml", b"# only a comment\n")])).unwrap();
    load(&chart_with(&[("demo/values.yaml", b"a: 1\n---\nb: 2\n")])).unwrap();
}

#[test]
fn reject_missing_version() {
    let e = load(&chart_yaml("apiVersion: v2\nname: demo\n")).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::VersionRequired)), "{e}");
}

#[test]
fn reject_non_semver_version() {
    let e = load(&chart_yaml("apiVersion: v2\nname: demo\nversion: foo\n")).unwrap_err();
    assert_eq!(e.to_string(), "Chart.yaml: version \"foo\" is not a valid semantic version");
}

#[test]
fn reject_four_part_version() {
    let e = load(&chart_yaml("apiVersion: v2\nname: demo\nversion: 1.2.3.4\n")).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::InvalidVersion(_))), "{e}");
}

#[test]
fn lenient_versions_accepted_as_written() {
    let md = load(&chart_yaml("apiVersion: v2\nname: demo\nversion: v1.2\n")).unwrap().metadata;
    assert_eq!(md.version, "v1.2");
    let md = load(&chart_yaml("apiVersion: v2\nname: demo\nversion: 1.10\n")).unwrap().metadata;
    assert_eq!(md.version, "1.10");
}

#[test]
fn reject_name_with_slash() {
    let e =
        load(&chart_yaml("apiVersion: v2\nname: ../../../../charts/org2/repo2/evil\nversion: 1.0.0\n")).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::InvalidName { .. })), "{e}");
}

#[test]
fn reject_name_dot_dot() {
    let e = load(&chart_yaml("apiVersion: v2\nname: ..\nversion: 1.0.0\n")).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::InvalidName { .. })), "{e}");
}

#[test]
fn reject_bad_type() {
    let e = load(&chart_yaml("apiVersion: v2\nname: demo\nversion: 1.0.0\ntype: plugin\n")).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::InvalidType(_))), "{e}");
}

#[test]
fn reject_dependency_alias_with_bad_chars() {
    let e = load(&chart_yaml(
        "apiVersion: v2\nname: demo\nversion: 1.0.0\ndependencies:\n- name: redis\n  alias: my.redis\n",
    ))
    .unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::InvalidDependencyAlias { .. })), "{e}");
}

#[test]
fn reject_requirements_yaml_with_bad_dependency() {
    let e = load(&chart_with(&[("demo/requirements.yaml", b"dependencies:\n- name: a\n- name: a\n")])).unwrap_err();
    assert!(matches!(e, ArchiveError::Metadata(MetadataError::DuplicateDependency(_))), "{e}");
    let e = load(&chart_with(&[("demo/requirements.yaml", b"dependencies: {a: 1}\n")])).unwrap_err();
    assert!(matches!(e, ArchiveError::InvalidFile { .. }), "{e}");
}

#[test]
fn reject_invalid_values_schema_json() {
    let e = load(&chart_with(&[("demo/values.schema.json", b"{\"type\": ")])).unwrap_err();
    assert!(matches!(&e, ArchiveError::InvalidFile { path, .. } if path == "values.schema.json"), "{e}");
}

#[test]
fn reject_invalid_chart_lock() {
    let e = load(&chart_with(&[("demo/Chart.lock", b"generated: yesterday\n")])).unwrap_err();
    assert!(matches!(e, ArchiveError::InvalidFile { .. }), "{e}");
    let e = load(&chart_with(&[("demo/requirements.lock", b"[1, 2\n")])).unwrap_err();
    assert!(matches!(e, ArchiveError::InvalidFile { .. }), "{e}");
    load(&chart_with(&[(
        "demo/Chart.lock",
        b"dependencies:\n- name: a\n  repository: ''\n  version: 1.0.0\ndigest: sha256:00\ngenerated: \"2024-01-02T03:04:05.123456789Z\"\n",
    )]))
    .unwrap();
}

#[test]
fn reject_pax_size_mismatch() {
    let bytes = ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .entry(TarEntry::pax(&[("size", "10")]))
        .file("demo/values.yaml", b"a: 1\n")
        .build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::PaxSizeMismatch { .. }), "{e}");
    // A matching PAX size is fine.
    let bytes = ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .entry(TarEntry::pax(&[("size", "5")]))
        .file("demo/values.yaml", b"a: 1\n")
        .build();
    load(&bytes).unwrap();
}

#[test]
fn reject_too_many_entries() {
    let t = ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .entries((0..20_000).map(|i| TarEntry::file(format!("demo/f{i}"), "")));
    let e = load(&t.build()).unwrap_err();
    assert!(matches!(e, ArchiveError::TooManyEntries { limit: 20_000 }), "{e}");
}

#[test]
fn reject_archive_without_files() {
    let bytes = ChartBuilder::new().entry(TarEntry::dir("demo/")).build();
    let e = load(&bytes).unwrap_err();
    assert!(matches!(e, ArchiveError::NoFiles), "{e}");
    let e = load(&gzip(&[0u8; 1024])).unwrap_err();
    assert!(matches!(e, ArchiveError::NoFiles), "{e}");
}

#[test]
fn reject_duplicate_file() {
    let bytes = chart_with(&[("demo/values.yaml", b"a: 1\n"), ("demo/values.yaml", b"a: 2\n")]);
    assert!(matches!(load(&bytes), Err(ArchiveError::DuplicateEntry { .. })));
}

#[test]
fn reject_non_utf8_name() {
    let bytes = ChartBuilder::new().file("demo/Chart.yaml", CHART).entry(TarEntry::file(b"demo/\xff\xfe", "")).build();
    assert!(matches!(load(&bytes), Err(ArchiveError::NonUtf8Name { .. })));
}

#[test]
fn reject_data_after_tar_end() {
    let mut tar = ChartBuilder::new().file("demo/Chart.yaml", CHART).tar();
    tar.extend_from_slice(b"hidden payload");
    let e = load(&gzip(&tar)).unwrap_err();
    assert!(matches!(e, ArchiveError::TrailingTarData), "{e}");
}

fn packaged(name: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let chart = ChartBuilder::new()
        .top_folder(name)
        .file("Chart.yaml", format!("apiVersion: v2\nname: {name}\nversion: 1.0.0\n"));
    extra.iter().fold(chart, |chart, (n, d)| chart.file(n, *d)).build()
}

#[test]
fn subcharts_are_validated() {
    // A good packaged and a good directory subchart.
    let sub = packaged("sub", &[]);
    load(&chart_with(&[
        ("demo/charts/sub-1.0.0.tgz", &sub),
        ("demo/charts/dir/Chart.yaml", b"name: dir\nversion: 2.0.0\n"),
    ]))
    .unwrap();

    // A bad packaged subchart.
    let bad = packaged("sub", &[("values.yaml", b"- not a map\n")]);
    let e = load(&chart_with(&[("demo/charts/sub-1.0.0.tgz", &bad)])).unwrap_err();
    assert!(matches!(e, ArchiveError::Subchart { .. }), "{e}");
    assert!(e.to_string().contains("charts/sub-1.0.0.tgz"), "{e}");
    insta::assert_snapshot!(e.to_string(), @"subchart charts/sub-1.0.0.tgz: cannot load values.yaml: invalid type: sequence, expected a mapping");

    // A subchart archive that is not gzip.
    let e = load(&chart_with(&[("demo/charts/sub-1.0.0.tgz", b"nope")])).unwrap_err();
    assert!(e.to_string().contains("not a gzipped archive"), "{e}");
    insta::assert_snapshot!(e.to_string(), @"subchart charts/sub-1.0.0.tgz: not a gzipped archive (expected the gzip magic bytes 1f 8b 08)");

    // A bad directory subchart, and one without Chart.yaml.
    let e = load(&chart_with(&[("demo/charts/dir/Chart.yaml", b"name: dir\nversion: nope\n")])).unwrap_err();
    assert!(e.to_string().contains("charts/dir"), "{e}");
    insta::assert_snapshot!(e.to_string(), @r#"subchart charts/dir: Chart.yaml: version "nope" is not a valid semantic version"#);
    let e = load(&chart_with(&[("demo/charts/dir/values.yaml", b"a: 1\n")])).unwrap_err();
    assert!(e.to_string().contains("Chart.yaml file is missing"), "{e}");
    insta::assert_snapshot!(e.to_string(), @"subchart charts/dir: Chart.yaml file is missing");

    // Ignored names: still no validation.
    load(&chart_with(&[("demo/charts/_skip/values.yaml", b"- x\n")])).unwrap();

    // read_metadata does not look at subcharts.
    read_metadata(&chart_with(&[("demo/charts/sub-1.0.0.tgz", &bad)]), &Limits::default()).unwrap();
}

#[test]
fn reject_nesting_too_deep() {
    let mut inner = packaged("c0", &[]);
    for i in 1..=9 {
        inner = packaged(&format!("c{i}"), &[("charts/sub.tgz", &inner)]);
    }
    // inner is now 10 archives deep: the top plus 9 nested levels.
    let e = load(&inner).unwrap_err();
    let mut cur: &ArchiveError = &e;
    while let ArchiveError::Subchart { source, .. } = cur {
        cur = source;
    }
    assert!(matches!(cur, ArchiveError::NestingTooDeep { limit: 8, .. }), "{e}");

    let mut ok = packaged("c0", &[]);
    for i in 1..=8 {
        ok = packaged(&format!("c{i}"), &[("charts/sub.tgz", &ok)]);
    }
    load(&ok).unwrap();
}

#[test]
fn nested_bytes_count_toward_the_total() {
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let sub = packaged("sub", &[("zeros", &zeros)]);
    let limits = Limits { max_decompressed: 5 * 1024 * 1024, ..Limits::default() };
    let bytes = chart_with(&[("demo/charts/sub.tgz", &sub), ("demo/more", &zeros[..1024 * 1024])]);
    let e = load_archive(&bytes, &limits).unwrap_err();
    let mut cur: &ArchiveError = &e;
    while let ArchiveError::Subchart { source, .. } = cur {
        cur = source;
    }
    assert!(matches!(cur, ArchiveError::TooLarge { .. }), "{e}");
}

#[test]
fn garbage_never_panics() {
    // Mutate a real archive byte by byte and in chunks; every outcome must be Ok or Err.
    let bytes = testdata("pkg/chart/v2/loader/testdata/frobnitz-1.2.3.tgz");
    let limits = Limits::default();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..300 {
        let mut m = bytes.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % m.len();
            m[i] = (seed >> 32) as u8;
        }
        let _ = load_archive(&m, &limits);
        let _ = read_metadata(&m, &limits);
    }
    // Corrupt the decompressed tar as well (valid gzip, broken tar).
    let tar = {
        let mut d = flate2::read::GzDecoder::new(&bytes[..]);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut out).unwrap();
        out
    };
    for _ in 0..300 {
        let mut m = tar.clone();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % m.len();
            m[i] = (seed >> 32) as u8;
        }
        let _ = load_archive(&gzip(&m), &limits);
    }
}

#[test]
fn deep_nesting_fails_cleanly() {
    let deep_flow = format!("{CHART}x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(load(&chart_yaml(&deep_flow)).is_err());
    let deep_deps =
        format!("{CHART}dependencies:\n- name: a\n  import-values: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(load(&chart_yaml(&deep_deps)).is_err());
    let mut deep_block = String::new();
    for i in 0..5_000 {
        deep_block.push_str(&" ".repeat(i));
        deep_block.push_str("a:\n");
    }
    // Deep but finite structures may load or be refused; they must not crash.
    let _ = load(&chart_with(&[("demo/values.yaml", deep_block.as_bytes())]));
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let _ = load(&chart_with(&[("demo/values.schema.json", deep_json.as_bytes())]));
}

#[test]
fn long_names_via_gnu_and_pax_headers() {
    let long = format!("demo/templates/{}.yaml", "x".repeat(150));
    // A name over 100 bytes goes into a GNU long-name record.
    let bytes = ChartBuilder::new().file("demo/Chart.yaml", CHART).file(&long, "abc").build();
    load(&bytes).unwrap();
    let files = extract_files(&bytes, &Limits::default(), |p| p.starts_with("templates/")).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, &long["demo/".len()..]);

    // A PAX path record overrides the header name, and is checked like any name.
    let bytes = ChartBuilder::new()
        .file("demo/Chart.yaml", CHART)
        .entry(TarEntry::pax(&[("path", "demo/../../escape")]))
        .file("demo/harmless", b"x")
        .build();
    assert!(matches!(load(&bytes), Err(ArchiveError::ParentDirectory { .. })));
}

// ---------------------------------------------------------------------------------------------
// Memory bounds (issue 17, item 2): what a hostile YAML file costs is bounded by its size.

#[global_allocator]
static ALLOC: chartroom_chart::testing::PeakMeter = chartroom_chart::testing::PeakMeter;

/// A `Chart.yaml` of nested aliases: 9 levels of 9 aliases, 9^9 scalars once expanded, in under
/// 500 bytes. `field` is where the expansion lands.
fn nested_aliases(field: &str) -> String {
    let mut text = "apiVersion: v2\nname: bomb\nversion: 1.0.0\na0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n".to_owned();
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 9].join(",");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text.push_str(&format!("{field}: *a8\n"));
    text
}

/// The refusal names the alias limit, and reaching it costs little: under 8 MiB (the parse used
/// to replay a million events, about 110 MB, before refusing).
#[test]
fn yaml_alias_bombs_are_refused_within_a_small_memory_bound() {
    for field in ["unknownKey", "keywords", "annotations", "dependencies"] {
        let yaml = nested_aliases(field);
        assert!(yaml.len() < 700, "{}", yaml.len());
        let (result, peak) = chartroom_chart::testing::PeakMeter::peak_growth(|| {
            chartroom_chart::metadata::Metadata::from_yaml(yaml.as_bytes())
        });
        let error = result.expect_err(field).to_string();
        eprintln!("{field}: {} bytes of Chart.yaml, refused after {peak} bytes at most: {error}", yaml.len());
        assert!(peak < 8 << 20, "{field}: the refused Chart.yaml cost {peak} bytes");
        assert!(error.contains("alias replay limit exceeded"), "{field}: {error}");

        // In an archive, the same: refused with a 400-class error, within the bound.
        let archive = ChartBuilder::new().file("Chart.yaml", &yaml).file("values.yaml", "").build();
        let (result, peak) =
            chartroom_chart::testing::PeakMeter::peak_growth(|| load_archive(&archive, &Limits::default()));
        assert!(result.is_err(), "{field}");
        assert!(peak < 8 << 20, "{field}: the refused archive cost {peak} bytes");
    }
    // values.yaml is walked, not kept: also bounded.
    let values = nested_aliases("big");
    let archive = ChartBuilder::chart("demo", "1.0.0").file("values.yaml", &values).build();
    let (result, peak) =
        chartroom_chart::testing::PeakMeter::peak_growth(|| load_archive(&archive, &Limits::default()));
    assert!(result.is_err());
    assert!(peak < 8 << 20, "values.yaml: {peak} bytes");
}

/// Anchors and aliases in proportion to the file are still read (Helm charts use them).
#[test]
fn ordinary_aliases_are_still_read() {
    let mut values = "base: &base {cpu: 100m, memory: 128Mi}\n".to_owned();
    // 90 uses of one anchor: below serde-saphyr's alias/anchor ratio check (100 aliases).
    for i in 0..90 {
        values.push_str(&format!("svc{i}:\n  resources: *base\n"));
    }
    let archive = ChartBuilder::chart("demo", "1.0.0").file("values.yaml", &values).build();
    load_archive(&archive, &Limits::default()).unwrap();
}
