//! Real tools for the signing tests, from the test toolkit: GnuPG in a throw-away home
//! (`chartroom_testkit::GnuPg`) and Helm 3.17 / 4.1 (`chartroom_testkit::Helm`). A missing tool
//! fails the test, never skips it.

use std::fs;
use std::path::{Path, PathBuf};

use chartroom_chart::archive::{Limits, extract_files};
pub use chartroom_testkit::{GnuPg, Helm, HelmVersion, KeySpec};

/// A chart made by `helm create` and packaged by `helm package` at `version`.
pub struct Chart {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl Chart {
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }

    /// The archive's `Chart.yaml`: Helm writes `yaml.Marshal(metadata)` there, the same text
    /// `helm package --sign` signs.
    pub fn metadata(&self) -> String {
        let files = extract_files(&self.bytes, &Limits::default(), |p| p == "Chart.yaml").expect("read archive");
        String::from_utf8(files.into_iter().next().expect("Chart.yaml").data).expect("utf-8 Chart.yaml")
    }

    pub fn prov_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".prov");
        PathBuf::from(p)
    }
}

/// `helm create <name>` once per call, then `helm package --version <version> [extra]` into a
/// fresh folder.
pub fn make_chart(helm: &Helm, name: &str, version: &str, extra: &[&str]) -> Chart {
    let src = helm.work_dir(&format!("src-{name}-{version}"));
    let chart_dir = src.join(name);
    if !chart_dir.exists() {
        helm.run(&["create", chart_dir.to_str().expect("utf-8 path")]);
    }
    let out = helm.work_dir(&format!("out-{name}-{version}-{}", extra.len()));
    let mut args = vec!["package", chart_dir.to_str().expect("utf-8 path"), "--version", version, "-d"];
    args.push(out.to_str().expect("utf-8 path"));
    args.extend_from_slice(extra);
    helm.run(&args);
    let path = out.join(format!("{name}-{version}.tgz"));
    let bytes = fs::read(&path).expect("packaged chart");
    Chart { name: name.to_owned(), version: version.to_owned(), path, bytes }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
