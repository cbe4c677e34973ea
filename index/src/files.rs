//! Reading a repository's files: downloads of archives and provenance files, and the archive
//! contents the API shows (templates, values).

use std::sync::Arc;

use chartroom_chart::archive::{self, ArchiveError, ChartFile};
use chartroom_storage::{ObjectInfo, ObjectStream, StorageError};

use crate::entry::Entry;
use crate::error::RepoError;
use crate::gate::GateRefusal;
use crate::repo::Repository;
use crate::tenant::Tenant;
use crate::tenants::Place;

/// The files a repository serves under `charts/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `<name>-<version>.tgz`
    Archive,
    /// `<name>-<version>.tgz.prov`
    Provenance,
}

impl FileKind {
    /// What `file` is, if it is a file the repository serves: an archive or a provenance file at
    /// the top of the repository (never a folder, never Chartroom's own `.chartroom/` state).
    pub(crate) fn of(file: &str) -> Option<FileKind> {
        if file.starts_with('.') || file.contains(['/', '\\']) {
            None
        } else if file.ends_with(".tgz") {
            Some(FileKind::Archive)
        } else if file.ends_with(".tgz.prov") {
            Some(FileKind::Provenance)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0:?} is not a chart file")]
    NotServed(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl FileError {
    fn from_storage(err: StorageError, file: &str) -> Self {
        match err {
            StorageError::NotFound(_) | StorageError::InvalidKey(_) => FileError::NotFound(file.to_owned()),
            other => FileError::Repo(other.into()),
        }
    }
}

/// Why an indexed archive's contents could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveReadError {
    #[error("stored archive {file} is unreadable: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: ArchiveError,
    },
    /// The extraction did not complete (its task panicked or was cancelled).
    #[error("archive reader failed: {0}")]
    Aborted(String),
    /// The files asked for unpack to more than an answer may hold ([`MAX_EXTRACTED`]).
    #[error(
        "the requested files of {file} unpack to more than {limit} bytes, more than this endpoint returns; download the chart instead"
    )]
    TooLarge { file: String, limit: u64 },
    /// [`MAX_ARCHIVE_READS`] archives are being unpacked already, and this request found no
    /// room in the queue or no turn within its wait ([`crate::RepoOptions::archive_read_queue`]).
    #[error(
        "too many chart contents are being unpacked at once (at most {limit}) and {refusal}: retry after the time in Retry-After"
    )]
    Busy { limit: usize, refusal: GateRefusal },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// The most bytes of files one request may unpack from an archive (`/templates`, `/values`):
/// with one file beyond it ([`archive::Limits::max_file`]) and the answer built from them, what
/// one such request holds stays under about 40 MiB whatever the archive unpacks to.
pub const MAX_EXTRACTED: u64 = 8 * 1024 * 1024;
/// How many requests may unpack archives at once; more wait for a turn, briefly, in a bounded
/// queue ([`crate::RepoOptions::archive_read_queue`]), and beyond it get
/// [`ArchiveReadError::Busy`] (503).
pub const MAX_ARCHIVE_READS: usize = 2;

/// Only files the index lists are served: an archive indexed under that file name, or the
/// provenance file of one. Whatever else storage holds (archives that failed validation, files
/// other tools put there, a link named like a chart) is not there for clients, and a miss costs
/// no request. A chart a peer stored moments ago downloads once this replica has its record
/// (its next poll, `--storage-poll-interval`).
impl Repository {
    /// A chart file's body, streamed from storage, with its metadata.
    pub async fn open_file(&self, tenant: &Tenant, file: &str) -> Result<(FileKind, ObjectStream), FileError> {
        let kind = FileKind::of(file).ok_or_else(|| FileError::NotServed(file.to_owned()))?;
        let place = self.indexed_file(tenant, file, kind)?;
        let stream = place.storage.stream(file).await.map_err(|e| FileError::from_storage(e, file))?;
        Ok((kind, stream))
    }

    /// A chart file's metadata (one HEAD request).
    pub async fn file_info(&self, tenant: &Tenant, file: &str) -> Result<(FileKind, ObjectInfo), FileError> {
        let kind = FileKind::of(file).ok_or_else(|| FileError::NotServed(file.to_owned()))?;
        let place = self.indexed_file(tenant, file, kind)?;
        let info = place.storage.head(file).await.map_err(|e| FileError::from_storage(e, file))?;
        Ok((kind, info))
    }

    /// The tenant's place, when its index lists `file` (for a provenance file: its archive).
    fn indexed_file(&self, tenant: &Tenant, file: &str, kind: FileKind) -> Result<Arc<Place>, FileError> {
        let located = self.locate(tenant)?;
        let archive = match kind {
            FileKind::Archive => file,
            FileKind::Provenance => file.strip_suffix(".prov").unwrap_or(file),
        };
        let listed = located.state.as_ref().is_some_and(|state| state.index.read().by_file(archive).is_some());
        if !listed {
            return Err(FileError::NotFound(file.to_owned()));
        }
        Ok(located.place)
    }

    /// Requests waiting for a turn to unpack an archive now (see [`Repository::archive_files`]).
    pub fn archive_reads_waiting(&self) -> usize {
        self.archive_reads.waiting()
    }

    /// The files of an indexed chart's archive whose paths `wanted` accepts (read and extracted
    /// off the async runtime). Bounded whatever the archive unpacks to and however many
    /// requests ask: at most [`MAX_EXTRACTED`] bytes of files (plus one file) per request, and
    /// [`MAX_ARCHIVE_READS`] requests at once; more wait their turn in a short bounded queue
    /// (a waiting request holds no archive bytes), beyond it they are refused.
    pub async fn archive_files(
        &self,
        tenant: &Tenant,
        entry: &Entry,
        wanted: fn(&str) -> bool,
    ) -> Result<Vec<ChartFile>, ArchiveReadError> {
        let place = self.locate(tenant)?.place;
        let _permit = self
            .archive_reads
            .enter()
            .await
            .map_err(|refusal| ArchiveReadError::Busy { limit: MAX_ARCHIVE_READS, refusal })?;
        let bytes = place.storage.read(entry.file()).await.map_err(RepoError::from)?;
        let limits = self.shared.options.limits.clone();
        let file = entry.file().to_owned();
        let extracted =
            tokio::task::spawn_blocking(move || archive::extract_files_bounded(&bytes, &limits, wanted, MAX_EXTRACTED))
                .await
                .map_err(|e| ArchiveReadError::Aborted(e.to_string()))?;
        match extracted {
            Ok(files) => Ok(files),
            Err(ArchiveError::SelectionTooLarge { limit }) => Err(ArchiveReadError::TooLarge { file, limit }),
            Err(source) => Err(ArchiveReadError::Unreadable { file, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_files() {
        for (file, kind) in [
            ("a-1.0.0.tgz", Some(FileKind::Archive)),
            ("a-1.0.0.tgz.prov", Some(FileKind::Provenance)),
            ("index.yaml", None),
            (".chartroom", None),
            (".hidden.tgz", None),
            ("a/b.tgz", None),
            ("a\\b.tgz", None),
            ("a-1.0.0.tar.gz", None),
        ] {
            assert_eq!(FileKind::of(file), kind, "{file}");
        }
    }
}
