//! Folders and files the tests compare, copy and read back.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// All regular files under `dir` (recursive), keyed by path relative to `dir`, skipping the
/// top-level `.chartroom` folder. For an S3 target `dir` is inside a bucket folder of s3s-fs,
/// which holds nothing but the objects: s3s-fs keeps its own files (`.tmp.<n>.internal.part`
/// while an object is written, `.bucket-*.object-*.metadata.json` and `.internal.json` per
/// object, `.upload-*` for multipart uploads) at its root, beside the bucket folders.
pub fn snapshot_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
            // Chartroom's own folder, the root's and every tenant's (`<tenant>/.chartroom/`).
            if e.file_name() == ".chartroom" {
                continue;
            }
            let ft = match e.file_type() {
                Ok(ft) => ft,
                Err(_) => continue,
            };
            if ft.is_dir() {
                walk(root, &p, out);
            } else {
                // A file may vanish between listing and reading (temporary files of the server).
                if let Ok(b) = fs::read(&p) {
                    out.insert(rel, b);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Reads `dir/name`; on failure the panic lists what `dir` holds.
pub fn read_single(dir: &Path, name: &str) -> Vec<u8> {
    let p = dir.join(name);
    fs::read(&p).unwrap_or_else(|e| {
        let listing: Vec<String> = fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        panic!("expected {} ({e}); folder holds {listing:?}", p.display())
    })
}

/// Copies the folder `from` (recursively) to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
