//! Where the programs the tests drive are: the `chartroom` binary under test, Helm 3 and 4,
//! s3s-fs, and the repository's `testdata/`.
//!
//! A missing program fails the test that needs it, with the command that installs it: it is
//! never skipped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The workspace root (where `Cargo.toml`, `.tools/` and `testdata/` are).
pub fn workspace_dir() -> &'static Path {
    // This crate lives in `<workspace>/testkit`.
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A file under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    workspace_dir().join("testdata").join(rel)
}

/// Reads a file under `testdata/`.
pub fn read_testdata(rel: &str) -> Vec<u8> {
    let p = testdata(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", p.display()))
}

/// Helm's signed test chart, its provenance file, the public key that verifies it, and its
/// sha256.
pub const SIGNTEST_TGZ: &str = "helm/pkg/downloader/testdata/signtest-0.1.0.tgz";
pub const SIGNTEST_PROV: &str = "helm/pkg/downloader/testdata/signtest-0.1.0.tgz.prov";
pub const SIGNTEST_KEYRING: &str = "helm/pkg/downloader/testdata/helm-test-key.pub";
pub const SIGNTEST_SHA256: &str = "e5ef611620fb97704d8751c16bab17fedb68883bfb0edc76f78a70e9173f9b55";

static CHARTROOM: OnceLock<PathBuf> = OnceLock::new();

/// Runs `bin` wherever the toolkit starts `chartroom` (a benchmark's `--server`). Call it before
/// the first server or CLI run; panics if another binary is already in use.
pub fn use_chartroom_binary(bin: impl Into<PathBuf>) {
    let bin = bin.into();
    let bin = std::path::absolute(&bin).unwrap_or(bin);
    let used = CHARTROOM.get_or_init(|| bin.clone());
    assert_eq!(*used, bin, "the toolkit already runs another chartroom binary");
}

/// The `chartroom` binary under test: the one given to [`use_chartroom_binary`], else
/// `CARGO_BIN_EXE_chartroom`, which cargo (1.94 and later) sets when it runs the root package's
/// tests and benchmarks (only they can name the binary at build time: this crate cannot), else
/// the `chartroom` beside the folder of the running test executable, where older cargo puts it
/// (`target/<profile>/deps/<test>-<hash>` runs, `target/<profile>/chartroom` is the binary). The
/// end-to-end suite checks that this is the binary cargo built for it.
pub fn chartroom_binary() -> &'static Path {
    CHARTROOM.get_or_init(|| {
        if let Some(p) = std::env::var_os("CARGO_BIN_EXE_chartroom").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join(format!("chartroom{}", std::env::consts::EXE_SUFFIX))));
        match beside {
            Some(p) if p.is_file() => p,
            _ => panic!(
                "the chartroom binary is unknown: CARGO_BIN_EXE_chartroom is not set and no chartroom sits beside \
                 the test executable's folder; run the tests through `cargo test` (or benchmarks through \
                 `cargo bench`), or call chartroom_testkit::use_chartroom_binary"
            ),
        }
    })
}

/// A program of `.tools/bin` (installed by `scripts/install-test-tools.sh`), or the path in the
/// environment variable `var` when it is set. Panics (fails the test) when it does not exist.
pub fn tool(var: &str, name: &str, what: &str) -> PathBuf {
    let p = match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => workspace_dir().join(".tools/bin").join(name),
    };
    assert!(
        p.is_file(),
        "{name} not found at {} ({what} is required by these tests; run scripts/install-test-tools.sh or set {var})",
        p.display()
    );
    p
}

/// `$CHARTROOM_S3S_FS`, else `.tools/bin/s3s-fs`.
pub fn s3s_fs_binary() -> PathBuf {
    tool("CHARTROOM_S3S_FS", "s3s-fs", "s3s-fs 0.14.1")
}

/// `$CHARTROOM_CHROMIUM`, else Debian's `/usr/bin/chromium` (the web catalogue's browser tests;
/// `scripts/install-test-tools.sh` installs the package). Panics when it is missing.
pub fn chromium_binary() -> PathBuf {
    let p = std::env::var_os("CHARTROOM_CHROMIUM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        p.is_file(),
        "chromium not found at {} (the browser tests need Debian's chromium; run scripts/install-test-tools.sh or set CHARTROOM_CHROMIUM)",
        p.display()
    );
    p
}

/// `$CHARTROOM_UI_TOOLS`, else `.tools/ui-test`: the npm packages playwright-core and axe-core
/// the browser tests load. Panics when they are missing.
pub fn ui_test_tools() -> PathBuf {
    let p = std::env::var_os("CHARTROOM_UI_TOOLS")
        .filter(|v| !v.is_empty())
        .map_or_else(|| workspace_dir().join(".tools/ui-test"), PathBuf::from);
    for package in ["playwright-core", "axe-core"] {
        let manifest = p.join("node_modules").join(package).join("package.json");
        assert!(
            manifest.is_file(),
            "{package} not found under {} (run scripts/install-test-tools.sh or set CHARTROOM_UI_TOOLS)",
            p.display()
        );
    }
    p
}
