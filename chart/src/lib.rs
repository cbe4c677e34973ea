//! Pure, synchronous Helm chart handling.
//!
//! Bytes in, types out: no I/O, no async, so everything here can be unit-tested and fuzzed.
//!
//! * [`version`]: Masterminds-compatible (Helm's) lenient version parsing and ordering.
//! * [`constraint`]: Masterminds version constraints (`^1.2`, `>=1.0 <2.0 || 3.x`, ...).
//! * [`metadata`]: the `Chart.yaml` model, parsing and Helm's validation rules.
//! * [`archive`]: bounded validation of uploaded `.tgz` archives and file extraction.
//! * [`provenance`]: reading the identity out of a `.prov` clear-signed message.
//! * [`yaml`]: YAML scalars that every reader takes back as the same strings.
//! * [`gojson`]: JSON written the way Go's `encoding/json` writes it (HTML escaping).
//! * [`helmignore`]: Helm's `.helmignore` rules (Go `filepath.Match` globs, Helm's negation).
//! * [`oci`]: a chart as an OCI artifact: config blob, manifest and annotations as `helm push` writes them.
//! * [`package`]: a chart folder's files into a reproducible `.tgz`, the way `helm package` does.
//! * `testing` (feature `test-support`, for tests and benchmarks only): `ChartBuilder`, which
//!   writes well-formed and malformed chart archives.

pub mod archive;
pub mod constraint;
pub mod gojson;
pub mod helmignore;
pub mod metadata;
pub mod oci;
pub mod package;
pub mod provenance;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod version;
pub mod yaml;
