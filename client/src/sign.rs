//! Signing packaged charts like `helm package --sign`: a `<archive>.prov` beside the archive,
//! signed with a secret key of a GnuPG keyring (`gpg --export-secret-keys`), which `helm verify`
//! (3 and 4) accepts. The signing itself is `chartroom_signing::sign`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use chartroom_chart::archive::{Limits, extract_files};
use chartroom_signing::{MAX_KEYRING_SIZE, SecretKeyring, sign};

use crate::error::ClientError;

/// Which key signs, and how to unlock it.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// A user id (exact, or contained in exactly one key's: Helm's `--key` rule), a fingerprint
    /// or a 16-digit key id.
    pub key: String,
    /// The secret keyring (`gpg --export-secret-keys`, armored or binary).
    pub keyring: PathBuf,
    /// A file whose first line is the key's passphrase; `-` reads it from standard input.
    pub passphrase_file: Option<PathBuf>,
}

/// Reads a secret keyring file. An unreadable or unusable file is a usage error naming it.
pub fn read_secret_keyring(path: &Path) -> Result<SecretKeyring, ClientError> {
    let bytes = read_keyring_file(path)?;
    SecretKeyring::from_bytes(&bytes).map_err(|e| ClientError::usage(format!("{}: {e}", path.display())))
}

/// A keyring file's bytes, refused above [`MAX_KEYRING_SIZE`].
pub(crate) fn read_keyring_file(path: &Path) -> Result<Vec<u8>, ClientError> {
    let unreadable = |e: std::io::Error| ClientError::usage(format!("cannot read keyring {}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if usize::try_from(len).map_or(true, |n| n > MAX_KEYRING_SIZE) {
        return Err(ClientError::usage(format!("keyring {} is larger than {MAX_KEYRING_SIZE} bytes", path.display())));
    }
    std::fs::read(path).map_err(unreadable)
}

/// The passphrase in the first line of `path` (Helm's `--passphrase-file`; `-` is standard
/// input), without its line break.
pub fn read_passphrase_file(path: &Path) -> Result<Vec<u8>, ClientError> {
    let unreadable =
        |e: std::io::Error| ClientError::usage(format!("cannot read passphrase file {}: {e}", path.display()));
    let mut line = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().lock().read_until(b'\n', &mut line).map_err(unreadable)?;
    } else {
        let file = std::fs::File::open(path).map_err(unreadable)?;
        std::io::BufReader::new(file).read_until(b'\n', &mut line).map_err(unreadable)?;
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(line)
}

/// The `.prov` of a chart archive (`archive`, named `file_name`), signed at the current time by
/// the key `key` of `keyring`. The signed metadata is the archive's own `Chart.yaml`, as
/// `helm package --sign` signs it.
pub fn sign_archive(
    archive: &[u8],
    file_name: &str,
    keyring: &SecretKeyring,
    key: &str,
    passphrase: &[u8],
) -> Result<Vec<u8>, ClientError> {
    let invalid = |e: String| ClientError::invalid_archive(format!("{file_name} is not a valid chart archive: {e}"));
    let files =
        extract_files(archive, &Limits::default(), |p| p == "Chart.yaml").map_err(|e| invalid(e.to_string()))?;
    let chart_yaml = files.into_iter().next().ok_or_else(|| invalid("no Chart.yaml".to_owned()))?;
    let metadata = String::from_utf8(chart_yaml.data).map_err(|_| invalid("Chart.yaml is not UTF-8".to_owned()))?;
    let key = keyring.select(key).map_err(|e| ClientError::usage(e.to_string()))?;
    sign(archive, file_name, &metadata, key, passphrase, jiff::Timestamp::now())
        .map_err(|e| ClientError::usage(e.to_string()))
}

/// Signs the archive at `archive_path` and writes `<archive_path>.prov` atomically; returns its
/// path.
pub fn sign_file(archive_path: &Path, options: &SignOptions) -> Result<PathBuf, ClientError> {
    let archive = std::fs::read(archive_path)
        .map_err(|e| ClientError::usage(format!("cannot read {}: {e}", archive_path.display())))?;
    let file_name = archive_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ClientError::usage(format!("{} has no usable file name", archive_path.display())))?;
    let keyring = read_secret_keyring(&options.keyring)?;
    let passphrase = match &options.passphrase_file {
        Some(path) => read_passphrase_file(path)?,
        None => Vec::new(),
    };
    let prov = sign_archive(&archive, file_name, &keyring, &options.key, &passphrase)?;
    let path = prov_path(archive_path);
    write_atomically(&path, &prov)?;
    Ok(path)
}

/// `<archive>.prov`, where Helm looks for an archive's provenance file.
pub fn prov_path(archive_path: &Path) -> PathBuf {
    let mut path = archive_path.as_os_str().to_owned();
    path.push(".prov");
    PathBuf::from(path)
}

/// Writes `data` to `path` through a temporary file in the same folder renamed into place.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> Result<(), ClientError> {
    let io = |e: std::io::Error| ClientError::other(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".chartroom-prov-").tempfile_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, data).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrase_files_give_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        for (content, expected) in [
            (&b"secret\n"[..], &b"secret"[..]),
            (b"secret\r\nrest\n", b"secret"),
            (b"no newline", b"no newline"),
            (b"", b""),
        ] {
            std::fs::write(&path, content).unwrap();
            assert_eq!(read_passphrase_file(&path).unwrap(), expected);
        }
        let missing = read_passphrase_file(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.kind, crate::ErrorKind::Usage);
        assert!(missing.message.contains("cannot read passphrase file"), "{}", missing.message);
    }

    #[test]
    fn provenance_files_lie_beside_their_archive() {
        assert_eq!(prov_path(Path::new("dist/a-1.0.0.tgz")), PathBuf::from("dist/a-1.0.0.tgz.prov"));
        assert_eq!(prov_path(Path::new("a-1.0.0.tgz")), PathBuf::from("a-1.0.0.tgz.prov"));
    }

    #[test]
    fn unusable_keyrings_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        std::fs::write(&path, b"not a keyring").unwrap();
        let e = read_secret_keyring(&path).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Usage);
        assert!(e.message.starts_with(&path.display().to_string()), "{}", e.message);
        let e = read_secret_keyring(&dir.path().join("missing")).unwrap_err();
        assert!(e.message.contains("cannot read keyring"), "{}", e.message);
    }
}
