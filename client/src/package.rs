//! Packaging chart folders (the library behind `chartroom package` and `chartroom push <dir>`):
//! reading a folder as Helm's directory loader does, packaging it reproducibly with
//! [`chartroom_chart::package`], and writing the archive atomically.

use std::path::{Path, PathBuf};

use chartroom_chart::helmignore::HelmIgnore;
use chartroom_chart::package::{PackageOptions, Packaged, SourceFile, package};

use crate::error::ClientError;

/// Packages a chart folder in memory. Invalid charts are usage errors naming the problem.
pub fn package_dir(dir: &Path, options: &PackageOptions) -> Result<Packaged, ClientError> {
    let files = read_chart_dir(dir)?;
    package(files, options).map_err(|e| ClientError::usage(format!("packaging {}: {e}", dir.display())))
}

/// Packages a chart folder into `dest/<name>-<version>.tgz` (creating `dest`), atomically:
/// the archive appears whole or not at all. Returns the archive's path.
///
/// ```no_run
/// use chartroom_chart::package::PackageOptions;
/// use std::path::Path;
///
/// let path = chartroom_client::package::package_to(Path::new("./mychart"), &PackageOptions::default(), Path::new("dist"))?;
/// println!("saved {}", path.display());
/// # Ok::<(), chartroom_client::ClientError>(())
/// ```
pub fn package_to(dir: &Path, options: &PackageOptions, dest: &Path) -> Result<PathBuf, ClientError> {
    let packaged = package_dir(dir, options)?;
    let io = |what: &str, p: &Path, e: std::io::Error| ClientError::other(format!("{what} {}: {e}", p.display()));
    std::fs::create_dir_all(dest).map_err(|e| io("creating", dest, e))?;
    let path = dest.join(&packaged.file_name);
    let mut tmp = tempfile::Builder::new()
        .prefix(".chartroom-package-")
        .tempfile_in(dest)
        .map_err(|e| io("writing into", dest, e))?;
    std::io::Write::write_all(&mut tmp, &packaged.bytes).map_err(|e| io("writing", &path, e))?;
    tmp.as_file().sync_all().map_err(|e| io("writing", &path, e))?;
    tmp.persist(&path).map_err(|e| io("writing", &path, e.error))?;
    Ok(path)
}

/// The bytes of a chart given as a `.tgz` file or as a folder (packaged in memory).
pub fn chart_bytes(path: &Path) -> Result<Vec<u8>, ClientError> {
    let meta =
        std::fs::metadata(path).map_err(|e| ClientError::usage(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        Ok(package_dir(path, &PackageOptions::default())?.bytes)
    } else {
        std::fs::read(path).map_err(|e| ClientError::usage(format!("cannot read {}: {e}", path.display())))
    }
}

/// The files of a chart folder as Helm's directory loader sees them (`.helmignore` honoured,
/// symbolic links followed, names in lexical order): the input of
/// [`chartroom_chart::package::package`]. Errors are usage errors.
///
/// ```no_run
/// use chartroom_chart::package::{PackageOptions, package};
///
/// let files = chartroom_client::package::read_chart_dir(std::path::Path::new("./mychart"))?;
/// let packaged = package(files, &PackageOptions::default()).expect("packages");
/// println!("{}", packaged.file_name);
/// # Ok::<(), chartroom_client::ClientError>(())
/// ```
pub fn read_chart_dir(root: &Path) -> Result<Vec<SourceFile>, ClientError> {
    let err = |p: &Path, e: std::io::Error| ClientError::usage(format!("reading {}: {e}", p.display()));
    let meta = std::fs::metadata(root).map_err(|e| err(root, e))?;
    if !meta.is_dir() {
        return Err(ClientError::usage(format!("{} is not a chart folder", root.display())));
    }
    let ignore_file = root.join(".helmignore");
    let ignore = match std::fs::read(&ignore_file) {
        Ok(bytes) => HelmIgnore::parse(&String::from_utf8_lossy(&bytes))
            .map_err(|e| ClientError::usage(format!("reading {}: {e}", ignore_file.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HelmIgnore::default(),
        Err(e) => return Err(err(&ignore_file, e)),
    };
    let mut files = Vec::new();
    let mut ancestors = vec![std::fs::canonicalize(root).map_err(|e| err(root, e))?];
    walk_chart(root, "", &ignore, &mut ancestors, &mut files)?;
    Ok(files)
}

/// Helm's `LoadDir` walk: names in lexical order, symbolic links followed (a loop is an
/// error), ignored directories skipped whole, irregular files refused.
fn walk_chart(
    dir: &Path,
    rel: &str,
    ignore: &HelmIgnore,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Vec<SourceFile>,
) -> Result<(), ClientError> {
    const MAX_FILE: u64 = 5 * 1024 * 1024;
    let err = |p: &Path, e: std::io::Error| ClientError::usage(format!("reading {}: {e}", p.display()));
    let mut names = std::fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(dir, e))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let lossy = name.to_string_lossy();
        let rel_path = if rel.is_empty() { lossy.to_string() } else { format!("{rel}/{lossy}") };
        // Follows symbolic links; a dangling one is an error, as in Helm.
        let meta = std::fs::metadata(&path).map_err(|e| err(&path, e))?;
        if ignore.ignored(&rel_path, meta.is_dir()) {
            continue;
        }
        if name.to_str().is_none() {
            return Err(ClientError::usage(format!("{}: file name is not valid UTF-8", path.display())));
        }
        if meta.is_dir() {
            let real = std::fs::canonicalize(&path).map_err(|e| err(&path, e))?;
            if ancestors.contains(&real) {
                return Err(ClientError::usage(format!("{}: symbolic link loop", path.display())));
            }
            ancestors.push(real);
            walk_chart(&path, &rel_path, ignore, ancestors, out)?;
            ancestors.pop();
        } else {
            if !meta.is_file() {
                return Err(ClientError::usage(format!(
                    "cannot load irregular file {} as it has file mode type bits set",
                    path.display()
                )));
            }
            if meta.len() > MAX_FILE {
                return Err(ClientError::usage(format!(
                    "chart file {rel_path:?} is larger than the maximum file size {MAX_FILE}"
                )));
            }
            let data = std::fs::read(&path).map_err(|e| err(&path, e))?;
            out.push(SourceFile { path: rel_path, data });
        }
    }
    Ok(())
}
