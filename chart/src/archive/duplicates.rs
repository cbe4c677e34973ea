//! Repeated paths in a chart archive.
//!
//! `helm package` writes every subchart under `charts/<chart name>/`, so when a chart holds the
//! same subchart twice (the usual case: a `file://` dependency that lives inside `charts/`, which
//! `helm dependency update` packages into `charts/<name>-<version>.tgz` next to its folder), every
//! file of that subchart appears twice in the archive, with identical bytes. Helm loads such
//! archives (argo-cd's published charts are made this way), so they are accepted: the repeats are
//! read as one file. Repeats whose bytes differ are refused, because Helm would silently use one of
//! them and nobody can tell which chart is meant.
//!
//! The main walk only counts how often each path occurs, so archives without repeats (nearly all)
//! cost nothing more. When some path repeats, the archive is read a second time and the SHA-256 of
//! every occurrence of the repeated paths is compared; that second read stops as soon as every
//! counted occurrence was seen.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;
use std::io::{self, Read};

use flate2::bufread::GzDecoder;
use sha2::{Digest, Sha256};

use super::{ArchiveError, Counting, Limits, Shared, is_directory, split_name};

/// `occurrences` maps each file path (relative to the chart root) to how often the walk of
/// `bytes` met it; every path met more than once must have identical bytes each time.
pub(super) fn check_identical(
    bytes: &[u8],
    limits: &Limits,
    occurrences: HashMap<String, u32>,
) -> Result<(), ArchiveError> {
    let mut remaining: HashMap<String, u32> = occurrences.into_iter().filter(|(_, n)| *n > 1).collect();
    let mut left: u64 = remaining.values().map(|&n| u64::from(n)).sum();
    if left == 0 {
        return Ok(());
    }
    // A fresh counter: the first walk already charged these bytes to the caller's budget.
    let shared = Shared::new(limits);
    let mut archive = tar::Archive::new(Counting::new(GzDecoder::new(bytes), &shared));
    let mut first_digest: HashMap<String, [u8; 32]> = HashMap::new();
    let entries = archive.entries_with_seek().map_err(|e| shared.io_error(e))?;
    for entry in entries {
        if left == 0 {
            break;
        }
        let mut entry = entry.map_err(|e| shared.io_error(e))?;
        let entry_type = entry.header().entry_type();
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if entry_type == tar::EntryType::XGlobalHeader || is_directory(entry_type, &name) {
            continue;
        }
        let Some(rel) = split_name(&name)?.rel else { continue };
        let Some(count) = remaining.get_mut(&rel) else { continue };
        *count = count.saturating_sub(1);
        left = left.saturating_sub(1);
        let digest = content_digest(&mut entry, limits).map_err(|e| shared.io_error(e))?;
        match first_digest.entry(rel) {
            MapEntry::Vacant(first) => {
                first.insert(digest);
            }
            MapEntry::Occupied(first) if *first.get() != digest => {
                return Err(ArchiveError::DuplicateEntry { path: name });
            }
            MapEntry::Occupied(_) => {}
        }
    }
    Ok(())
}

/// SHA-256 of an entry's data (the first walk already bounded its size).
fn content_digest<R: Read>(entry: &mut R, limits: &Limits) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut limited = entry.take(limits.max_file.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = limited.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::{ArchiveError, Limits, extract_all, extract_files, load_archive, read_metadata};

    const CHART: &[u8] = b"apiVersion: v2\nname: demo\nversion: 1.0.0\n";
    const SUB: &[u8] = b"apiVersion: v2\nname: sub\nversion: 0.1.0\n";

    fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).expect("append");
        }
        let tar = b.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).expect("gzip");
        gz.finish().expect("gzip")
    }

    /// What `helm package` writes for a `file://` dependency that lives in `charts/sub`: the
    /// folder and the archive `helm dependency update` made of it, both saved as `charts/sub/`.
    fn helm_style(values_again: &[u8], template_again: &[u8]) -> Vec<u8> {
        tgz(&[
            ("demo/Chart.yaml", CHART),
            ("demo/values.yaml", b"a: 1\n"),
            ("demo/charts/sub/Chart.yaml", SUB),
            ("demo/charts/sub/values.yaml", b"b: 2\n"),
            ("demo/charts/sub/templates/cm.yaml", b"kind: ConfigMap\n"),
            ("demo/charts/sub/Chart.yaml", SUB),
            ("demo/charts/sub/values.yaml", values_again),
            ("demo/charts/sub/templates/cm.yaml", template_again),
        ])
    }

    #[test]
    fn identical_repeats_are_read_as_one_file() {
        let bytes = helm_style(b"b: 2\n", b"kind: ConfigMap\n");
        let limits = Limits::default();
        assert_eq!(load_archive(&bytes, &limits).expect("loads").metadata.name, "demo");
        assert_eq!(read_metadata(&bytes, &limits).expect("indexes").metadata.version, "1.0.0");
        let all = extract_all(&bytes, &limits).expect("extracts");
        let paths: Vec<&str> = all.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Chart.yaml",
                "values.yaml",
                "charts/sub/Chart.yaml",
                "charts/sub/values.yaml",
                "charts/sub/templates/cm.yaml"
            ]
        );
        let top = extract_files(&bytes, &limits, |_| true).expect("top-level files");
        assert_eq!(top.len(), 2);
        // The top-level Chart.yaml repeated is fine too.
        let bytes = tgz(&[("demo/Chart.yaml", CHART), ("demo/values.yaml", b"a: 1\n"), ("demo/Chart.yaml", CHART)]);
        assert_eq!(load_archive(&bytes, &limits).expect("loads").metadata.name, "demo");
    }

    #[test]
    fn repeats_with_other_bytes_are_refused_naming_the_path() {
        let limits = Limits::default();
        // A file whose content is validated...
        let e = load_archive(&helm_style(b"b: 3\n", b"kind: ConfigMap\n"), &limits).expect_err("differs");
        assert!(matches!(&e, ArchiveError::DuplicateEntry { path } if path == "demo/charts/sub/values.yaml"), "{e}");
        assert_eq!(
            e.to_string(),
            "entry \"demo/charts/sub/values.yaml\": duplicate entry with different contents (Helm would silently use only one of them)"
        );
        // ... and one whose content is only drained.
        let bytes = helm_style(b"b: 2\n", b"kind: Secret\n");
        for result in [
            load_archive(&bytes, &limits).map(|_| ()),
            extract_all(&bytes, &limits).map(|_| ()),
            extract_files(&bytes, &limits, |_| false).map(|_| ()),
        ] {
            assert!(
                matches!(&result, Err(ArchiveError::DuplicateEntry { path }) if path == "demo/charts/sub/templates/cm.yaml"),
                "{result:?}"
            );
        }
        // A third copy that differs from the first two.
        let bytes = tgz(&[
            ("demo/Chart.yaml", CHART),
            ("demo/README.md", b"x"),
            ("demo/README.md", b"x"),
            ("demo/README.md", b"y"),
        ]);
        assert!(matches!(load_archive(&bytes, &limits), Err(ArchiveError::DuplicateEntry { .. })));
    }

    #[test]
    fn repeats_inside_a_packaged_subchart() {
        let limits = Limits::default();
        let inner = helm_style(b"b: 2\n", b"kind: ConfigMap\n");
        let outer = tgz(&[
            ("top/Chart.yaml", b"apiVersion: v2\nname: top\nversion: 2.0.0\n"),
            ("top/charts/demo-1.0.0.tgz", &inner),
        ]);
        load_archive(&outer, &limits).expect("loads");
        let inner = helm_style(b"b: 9\n", b"kind: ConfigMap\n");
        let outer = tgz(&[
            ("top/Chart.yaml", b"apiVersion: v2\nname: top\nversion: 2.0.0\n"),
            ("top/charts/demo-1.0.0.tgz", &inner),
        ]);
        let e = load_archive(&outer, &limits).expect_err("differs");
        assert!(
            e.to_string().starts_with("subchart charts/demo-1.0.0.tgz: entry \"demo/charts/sub/values.yaml\""),
            "{e}"
        );
    }

    #[test]
    fn repeats_still_count_against_the_limits() {
        let bytes = helm_style(b"b: 2\n", b"kind: ConfigMap\n");
        let few = Limits { max_entries: 6, ..Limits::default() };
        assert!(matches!(load_archive(&bytes, &few), Err(ArchiveError::TooManyEntries { .. })));
    }
}
